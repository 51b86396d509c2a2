"""What callers get back for trust: the level of an agent for a user, its changes, its metrics."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from agentkeep.models import Input, Output

Reason = Annotated[str, Field(min_length=1, max_length=1000)]


class TrustLevel(Output):
    """The level (0-4) of one agent for one user and the running aggregates the rules read.

    ``has_record`` is false until the first outcome (or demotion): the level shown is then the
    active profile's ``trust.initial_level`` and every count is 0.
    """

    user_id: uuid.UUID
    agent_id: uuid.UUID
    level: int
    has_record: bool
    outcomes: int
    approved: int
    rejected: int
    modified: int
    rejection_streak: int = Field(description="consecutive rejections, the latest outcome included")
    since_rejection: int = Field(description="outcomes since the last rejection")
    level_outcomes: int = Field(description="outcomes since this level was reached")
    level_approved: int = Field(description="approvals since this level was reached")
    last_outcome_at: datetime | None
    level_changed_at: datetime | None


class TrustChange(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_id: uuid.UUID
    from_level: int
    to_level: int
    rule: str = Field(description="promotion, rejection_streak, ethical_block or demotion")
    reason: str
    decision_id: uuid.UUID | None = Field(description="the decision whose outcome caused it")
    created_at: datetime


class TrustMetric(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_session_id: uuid.UUID | None
    agent_id: uuid.UUID | None
    metric_type: str
    metric_value: Decimal
    measurement_context: dict[str, object]
    sample_count: int
    is_aggregate: bool
    recorded_at: datetime


class Demotion(Input):
    """Lower an agent's level by one (never below 0), e.g. after a blocked ethical validation."""

    reason: Reason
    rule: Annotated[str, Field(pattern="^(ethical_block|demotion)$")] = "ethical_block"
