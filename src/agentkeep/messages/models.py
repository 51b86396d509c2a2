"""What callers send and get back for messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator

from agentkeep.messages.tables import MessageType, Role
from agentkeep.models import Count, Input, JsonArray, JsonObject

MAX_CONTENT_CHARS = 1_000_000


class NewMessage(Input):
    role: Role
    content: Annotated[str, Field(max_length=MAX_CONTENT_CHARS)]
    message_type: MessageType = "text"
    parent_message_id: uuid.UUID | None = None
    agent_session_id: uuid.UUID | None = None
    agent_name: Annotated[str, Field(max_length=100)] | None = None
    reasoning_trace: JsonObject | JsonArray | None = None
    ethical_validation: JsonObject | None = None
    metadata: JsonObject = Field(default_factory=dict)
    token_count: Count | None = None
    model_used: Annotated[str, Field(max_length=100)] | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _agent_is_assistant(cls, value: object) -> object:
        """Seed 002 calls the agent's side ``agent``; it is stored as ``assistant``."""
        return "assistant" if value == "agent" else value


@dataclass(slots=True)
class Message:
    """A stored message.

    A plain dataclass rather than a pydantic model: reading the latest N builds one per row, and
    pydantic's construction cost more per message than fetching the row (docs/benchmarks.md).
    Rows come from our own checked schema, so nothing here is validated again. Every field is a
    column of the ``messages`` table, of the same name: the repository's select list is built
    from these fields, in this order, so a row unpacks straight into it (and
    tests/test_message_sql.py ties the two together).
    """

    id: uuid.UUID
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    parent_message_id: uuid.UUID | None
    agent_session_id: uuid.UUID | None
    role: str
    message_type: str
    content: str
    agent_name: str | None
    reasoning_trace: Any
    ethical_validation: dict[str, Any] | None
    metadata: dict[str, Any]
    token_count: int | None
    model_used: str | None
    created_at: datetime
