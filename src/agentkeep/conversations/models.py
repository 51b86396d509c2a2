"""What callers send and get back for conversations."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import Field

from agentkeep.conversations.tables import conversations
from agentkeep.models import Input, JsonObject, Output, Version

Title = Annotated[str, Field(max_length=500)]


class NewConversation(Input):
    title: Title | None = None
    metadata: JsonObject = Field(default_factory=dict)
    agent_id: uuid.UUID | None = None
    agent_session_id: uuid.UUID | None = None
    model_used: Annotated[str, Field(max_length=100)] | None = None


class ConversationUpdate(Input):
    """The fields to change; ``version`` is the one you read (a stale one is refused)."""

    stored_in: ClassVar[sa.Table | None] = conversations  # null for a NOT NULL column: 422

    version: Version
    title: Title | None = None
    metadata: JsonObject | None = None
    is_archived: bool | None = None
    model_used: Annotated[str, Field(max_length=100)] | None = None


class Conversation(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    title: str | None
    agent_id: uuid.UUID | None
    agent_session_id: uuid.UUID | None
    is_archived: bool
    metadata: dict[str, object]
    model_used: str | None
    tokens_used: int
    cost_usd: Decimal
    version: int
    created_at: datetime
    updated_at: datetime
