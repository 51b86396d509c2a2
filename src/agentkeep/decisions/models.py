"""What callers send and get back for decisions and onboarding answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import Field

from agentkeep.decisions.tables import onboarding_answers
from agentkeep.models import Count, Input, JsonObject, Output, Version

Term = Annotated[str, Field(min_length=1, max_length=50)]
Confidence = Annotated[
    Decimal, Field(ge=0, le=1, max_digits=3, decimal_places=2, description="0.00 (none) to 1.00 (certain).")
]
MAX_RATIONALE_CHARS = 100_000
MAX_TRANSCRIPT_CHARS = 1_000_000


class NewDecision(Input):
    """A decision an agent made. Which of ``rationale``, ``decision_card`` and
    ``debate_transcript`` are stored encrypted is the active profile's ``decisions.encrypted_fields``."""

    decision_type: Term
    agent_session_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    subject: Annotated[str, Field(min_length=1, max_length=100, description="e.g. 000's ticker")] | None = (
        None
    )
    input_context: JsonObject = Field(default_factory=dict)
    action_taken: JsonObject = Field(default_factory=dict)
    rationale: Annotated[str, Field(max_length=MAX_RATIONALE_CHARS)] | None = None
    decision_card: JsonObject | None = None
    debate_transcript: Annotated[str, Field(max_length=MAX_TRANSCRIPT_CHARS)] | None = None
    confidence_score: Confidence | None = None
    execution_time_ms: Count | None = None


class FeedbackChange(Input):
    """The user's verdict on a decision; recorded with who gave it and when."""

    user_feedback: Term
    version: Version | None = None


class Decision(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_session_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    decision_type: str
    subject: str | None
    input_context: dict[str, object]
    action_taken: dict[str, object]
    rationale: str | None
    decision_card: dict[str, object] | None
    debate_transcript: str | None
    encrypted_fields: list[str] = Field(description="the parts of this decision stored encrypted")
    confidence_score: Decimal | None
    user_feedback: str | None
    feedback_by: str | None
    feedback_at: datetime | None
    execution_time_ms: int | None
    version: int
    created_at: datetime
    updated_at: datetime


class OnboardingChange(Input):
    """Seed 000's onboarding answers for an agent session; leave a field out to keep it.

    ``is_legal_acknowledged=true`` records who acknowledged and when (once: acknowledging again keeps
    the first date); ``false`` withdraws it.
    """

    stored_in: ClassVar[sa.Table | None] = onboarding_answers

    processing_mode: Term | None = None
    risk_profile: Term | None = None
    is_legal_acknowledged: bool | None = None
    is_onboarding_complete: bool | None = None
    version: Version | None = None


class Onboarding(Output):
    user_id: uuid.UUID
    agent_session_id: uuid.UUID
    processing_mode: str | None
    risk_profile: str | None
    is_legal_acknowledged: bool
    legal_acknowledged_at: datetime | None
    legal_acknowledged_by: str | None
    is_onboarding_complete: bool
    version: int
    created_at: datetime
    updated_at: datetime
