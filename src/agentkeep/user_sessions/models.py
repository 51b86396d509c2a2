"""What callers send and get back for user sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from pydantic import Field

from agentkeep.models import Input, JsonObject, Output, SessionTtl


class NewUserSession(Input):
    session_type: Annotated[str, Field(min_length=1, max_length=50)] = "interactive"
    session_context: JsonObject = Field(default_factory=dict)
    ip_address: IPv4Address | IPv6Address | None = None
    user_agent: Annotated[str, Field(max_length=2048)] | None = None
    ttl_seconds: SessionTtl | None = None


class UserSession(Output):
    id: uuid.UUID
    user_id: uuid.UUID
    session_type: str
    session_context: dict[str, object]
    ip_address: str | None
    user_agent: str | None
    status: str
    started_at: datetime
    last_activity_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    version: int

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class StartedUserSession(Output):
    session: UserSession
    token: str
    """The bearer token. Shown once: only its SHA-256 is stored."""
