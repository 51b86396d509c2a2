"""What callers send and get back for users."""

from __future__ import annotations

import re
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, ClassVar

import sqlalchemy as sa
from pydantic import AfterValidator, Field, SecretStr

from agentkeep.models import Input, JsonObject, Output, Version
from agentkeep.users.tables import EMAIL_PATTERN, users


def _known_time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known IANA time zone") from None
    return value


_EMAIL = re.compile(EMAIL_PATTERN)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not a valid email address")
    return value


Email = Annotated[str, Field(max_length=255), AfterValidator(_email)]
Username = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]
TimeZone = Annotated[str, Field(max_length=50), AfterValidator(_known_time_zone)]


class NewUser(Input):
    email: Email
    username: Username | None = None
    full_name: Annotated[str, Field(max_length=255)] | None = None
    password: Annotated[SecretStr, Field(min_length=8, max_length=1024)] | None = None
    auth_provider: Annotated[str, Field(min_length=1, max_length=50)] = "local"
    auth_external_id: Annotated[str, Field(max_length=255)] | None = None
    timezone: TimeZone = "UTC"
    preferences_json: JsonObject = Field(default_factory=dict)


class UserUpdate(Input):
    stored_in: ClassVar[sa.Table | None] = users

    version: Version
    email: Email | None = None
    username: Username | None = None
    full_name: Annotated[str, Field(max_length=255)] | None = None
    timezone: TimeZone | None = None
    preferences_json: JsonObject | None = None
    is_active: bool | None = None


class User(Output):
    user_id: uuid.UUID
    email: str
    username: str | None
    full_name: str | None
    auth_provider: str
    auth_external_id: str | None
    timezone: str
    preferences_json: dict[str, object]
    is_active: bool
    has_password: bool
    last_active_at: datetime
    version: int
    created_at: datetime
    updated_at: datetime
