"""What callers send and get back for governance events, approvals and emergency stops."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from agentkeep.governance.tables import EVENT_TYPES
from agentkeep.models import Input, JsonObject, Output, Text

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
Framework = Annotated[str, Field(min_length=1, max_length=50)]
Reason = Annotated[Text, Field(min_length=1, max_length=4000)]
CreatedBy = Annotated[str, Field(min_length=1, max_length=255)]


class NewGovernanceEvent(Input):
    agent_session_id: uuid.UUID
    event_type: EventType
    framework_type: Framework = Field(description="a term of the profile's governance_frameworks")
    approved: bool
    validation_context: JsonObject = Field(default_factory=dict)
    decision_details: JsonObject = Field(default_factory=dict)
    decision_reason: Reason | None = None
    fallback_triggered: bool = False
    created_by: CreatedBy | None = None


class Decision(Input):
    """An approval or a denial of an agent session: recorded as a governance event."""

    event_type: Literal["pre_agent_spawn", "consensus_check"] = "pre_agent_spawn"
    framework_type: Framework = "consensus"
    reason: Reason | None = None
    created_by: CreatedBy | None = None
    validation_context: JsonObject = Field(default_factory=dict)


class EmergencyStop(Input):
    reason: Reason
    created_by: CreatedBy | None = None


class GovernanceEvent(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_session_id: uuid.UUID
    event_type: str
    framework_type: str
    approved: bool
    validation_context: dict[str, object]
    decision_details: dict[str, object]
    decision_reason: str | None
    fallback_triggered: bool
    created_at: datetime
    created_by: str | None
    correlation_id: str | None


class StoppedSession(Output):
    agent_session_id: uuid.UUID
    user_id: uuid.UUID
    status_before: str
    event_id: uuid.UUID


class StopResult(Output):
    """What an emergency stop blocked: every live session, each with its emergency_stop event."""

    stopped: list[StoppedSession]
