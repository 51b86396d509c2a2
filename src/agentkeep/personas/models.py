"""What callers send and get back for personas and persona activations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import Field

from agentkeep.models import Input, JsonObject, Output, Version
from agentkeep.personas.tables import personas

Priority = Annotated[int, Field(ge=1, le=10)]


class NewPersona(Input):
    persona_name: Annotated[str, Field(min_length=1, max_length=255)]
    persona_version: Annotated[str, Field(min_length=1, max_length=20)]
    specialization: Annotated[str, Field(min_length=1, max_length=255)]
    capabilities: JsonObject = Field(default_factory=dict)
    activation_rules: JsonObject = Field(default_factory=dict)
    crisis_scenarios: JsonObject = Field(default_factory=dict)
    behavioral_patterns: JsonObject = Field(default_factory=dict)
    is_active: bool = True
    is_core: bool = False
    priority_level: Priority = 5


class PersonaUpdate(Input):
    stored_in: ClassVar[sa.Table | None] = personas

    version: Version
    specialization: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    capabilities: JsonObject | None = None
    activation_rules: JsonObject | None = None
    crisis_scenarios: JsonObject | None = None
    behavioral_patterns: JsonObject | None = None
    is_active: bool | None = None
    is_core: bool | None = None
    priority_level: Priority | None = None


class Persona(Output):
    id: uuid.UUID
    persona_name: str
    persona_version: str
    specialization: str
    capabilities: dict[str, object]
    activation_rules: dict[str, object]
    crisis_scenarios: dict[str, object]
    behavioral_patterns: dict[str, object]
    is_active: bool
    is_core: bool
    priority_level: int
    version: int
    created_at: datetime
    updated_at: datetime


class NewActivation(Input):
    persona_id: uuid.UUID
    activation_trigger: Annotated[str, Field(min_length=1, max_length=255)]
    activation_context: JsonObject = Field(default_factory=dict)


class PersonaActivation(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_session_id: uuid.UUID
    persona_id: uuid.UUID
    activation_trigger: str
    activation_context: dict[str, object]
    activated_at: datetime
    deactivated_at: datetime | None
    results: dict[str, object] | list[object] | None
