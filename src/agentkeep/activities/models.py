"""What callers send and get back for agent activities and ethical validations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from agentkeep.activities.tables import ActivityStatus, ValidationResult
from agentkeep.consent.tables import Tier
from agentkeep.models import Input, JsonArray, JsonObject, JsonValue, Output

Reason = Annotated[str, Field(max_length=2000)]
Term = Annotated[str, Field(min_length=1, max_length=100)]
Text = Annotated[str, Field(max_length=10_000)]


def _short_strings(values: list[Any]) -> list[Any]:
    """A list of strings of at most 2,000 characters each (checked as JSON first: NUL, surrogates)."""
    if len(values) > 100:
        raise ValueError("holds more than 100 items")
    for index, value in enumerate(values):
        if not isinstance(value, str) or len(value) > 2000:
            raise ValueError(f"item {index} is not a string of at most 2000 characters")
    return values


# One error naming the field, whatever is wrong inside the list.
Strings = Annotated[JsonArray, AfterValidator(_short_strings)]


class NewActivity(Input):
    """An activity an agent proposes. It proceeds at once when the user's consent tier for its
    scope and the agent session's trust level reach what the profile requires for its type;
    otherwise it waits in ``pending_consent``."""

    agent_name: Annotated[str, Field(min_length=1, max_length=100)]
    activity_type: Term
    scope: Term = "global"
    title: Annotated[str, Field(min_length=1, max_length=500)]
    description: Text | None = None
    reasoning: Text | None = None
    agent_session_id: uuid.UUID | None = None
    consent_tier_required: Tier | None = Field(
        None, description="ask for more than the profile requires (never less)"
    )
    trust_level_required: Annotated[int, Field(ge=0, le=4)] = 0
    payload: JsonObject | None = None


class ConsentDecision(Input):
    reason: Reason | None = None


class Outcome(Input):
    result: JsonValue | None = None


class Activity(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_name: str
    agent_session_id: uuid.UUID | None
    activity_type: str
    scope: str
    status: ActivityStatus
    title: str
    description: str | None
    reasoning: str | None
    is_consent_required: bool
    consent_tier_required: Tier
    trust_level_required: int
    payload: Any
    result: Any
    executed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class NewEthicalValidation(Input):
    """The result of checking a message or an agent activity (seed 004 ethical_validations).
    A ``blocked`` activity cannot execute unless the user overrides it (when allowed)."""

    result: ValidationResult
    agent_activity_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    validator: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    rules_applied: Strings = Field(default_factory=list)
    concerns: Strings = Field(default_factory=list)
    reasoning: Text | None = None
    is_override_allowed: bool = False
    metadata: JsonObject = Field(default_factory=dict)


class EthicalValidation(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    message_id: uuid.UUID | None
    agent_activity_id: uuid.UUID | None
    validator: str
    result: ValidationResult
    rules_applied: list[str]
    concerns: list[str]
    reasoning: str | None
    is_override_allowed: bool
    is_overridden_by_user: bool
    metadata: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
