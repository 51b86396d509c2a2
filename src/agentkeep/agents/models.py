"""What callers send and get back for agents (the shared catalog)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import Field

from agentkeep.agents.tables import agents
from agentkeep.models import Input, JsonObject, Output, Version

Name = Annotated[str, Field(min_length=1, max_length=100)]


class NewAgent(Input):
    name: Name
    persona_type: Annotated[str, Field(min_length=1, max_length=50)]
    capabilities: JsonObject = Field(default_factory=dict)
    config: JsonObject = Field(default_factory=dict)
    is_active: bool = True


class AgentUpdate(Input):
    stored_in: ClassVar[sa.Table | None] = agents

    version: Version
    name: Name | None = None
    persona_type: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    capabilities: JsonObject | None = None
    config: JsonObject | None = None
    is_active: bool | None = None


class Agent(Output):
    id: uuid.UUID
    name: str
    persona_type: str
    capabilities: dict[str, object]
    config: dict[str, object]
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime
