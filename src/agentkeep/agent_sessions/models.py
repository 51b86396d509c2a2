"""What callers send and get back for agent sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

import sqlalchemy as sa
from pydantic import Field

from agentkeep.agent_sessions.tables import AGENT_SESSION_STATUSES, agent_sessions
from agentkeep.models import Input, JsonArray, JsonObject, Output, Version

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
TrustLevel = Annotated[int, Field(ge=0, le=4, description="L0 (observe only) to L4 (autonomous).")]
Status = Literal[AGENT_SESSION_STATUSES]  # type: ignore[valid-type]


class NewAgentSession(Input):
    agent_type: Annotated[str, Field(min_length=1, max_length=100)]
    agent_id: uuid.UUID | None = None
    user_session_id: uuid.UUID | None = None
    agent_config: JsonObject = Field(default_factory=dict)
    personas_active: JsonArray = Field(default_factory=list)
    governance_state: JsonObject = Field(default_factory=dict)
    context: JsonObject = Field(default_factory=dict)
    metadata: JsonObject = Field(default_factory=dict)
    trust_level: TrustLevel = 0
    estimated_cost: Money | None = None
    max_cost_limit: Money | None = None
    expires_at: datetime | None = None
    carry_context: bool = Field(
        default=False,
        description="Start from the context of this user's latest session of the same agent_type.",
    )
    carry_context_from: uuid.UUID | None = Field(
        default=None,
        description="Start from the context of this earlier session of the user (any agent_type); "
        "the new context's keys win over the carried ones.",
    )


class AgentSessionUpdate(Input):
    stored_in: ClassVar[sa.Table | None] = agent_sessions

    version: Version
    agent_config: JsonObject | None = None
    personas_active: JsonArray | None = None
    governance_state: JsonObject | None = None
    context: JsonObject | None = None
    metadata: JsonObject | None = None
    trust_level: TrustLevel | None = None
    estimated_cost: Money | None = None
    max_cost_limit: Money | None = None
    expires_at: datetime | None = None


class StatusChange(Input):
    status: Status
    version: Version | None = None
    error_details: JsonObject | None = None


class CostCharge(Input):
    amount: Money


class AgentSession(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_id: uuid.UUID | None
    user_session_id: uuid.UUID | None
    agent_type: str
    agent_config: dict[str, object]
    personas_active: list[object]
    governance_state: dict[str, object]
    context: dict[str, object]
    metadata: dict[str, object]
    status: str
    trust_level: int
    started_at: datetime | None
    completed_at: datetime | None
    expires_at: datetime | None
    error_details: dict[str, object] | None
    token_cost: Decimal
    estimated_cost: Decimal | None
    max_cost_limit: Decimal | None
    version: int
    created_at: datetime
    updated_at: datetime
