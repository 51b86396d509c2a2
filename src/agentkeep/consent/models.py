"""What callers send and get back for consent tiers and consent logs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from agentkeep.consent.tables import ConsentAction, Tier
from agentkeep.models import Input, JsonObject, Output

Scope = Annotated[str, Field(min_length=1, max_length=100)]
Reason = Annotated[str, Field(max_length=2000)]
# The actions a caller records itself; tier and settings changes are logged by the database.
RecordedAction = Literal["approved", "denied", "deferred"]


class TierChange(Input):
    """Set the tier of one scope (the scope's row is made when the user has none)."""

    tier_level: Tier
    reason: Reason | None = None


class SettingsChange(Input):
    settings_data: JsonObject
    reason: Reason | None = None


class NewConsentRecord(Input):
    """A consent the user gave, refused or put off outside an agent activity (e.g. seed 000's
    legal acknowledgement: ``approved`` in scope ``legal``)."""

    action: RecordedAction
    scope: Scope
    reason: Reason | None = None
    new_value: Annotated[str, Field(max_length=2000)] | None = None
    metadata: JsonObject = Field(default_factory=dict)


class ConsentTier(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    scope: str
    tier_level: Tier
    is_active: bool
    settings_data: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class ConsentLog(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    agent_activity_id: uuid.UUID | None
    consent_tier_id: uuid.UUID | None
    action: ConsentAction
    scope: str | None
    previous_value: str | None
    new_value: str | None
    reason: str | None
    metadata: dict[str, Any]
    created_at: datetime
