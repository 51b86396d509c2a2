"""What callers send and get back for API keys and service keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from agentkeep.models import Input, Output
from agentkeep.users.models import User


class NewKey(Input):
    name: Annotated[str, Field(min_length=1, max_length=100)] = "default"
    expires_at: datetime | None = None


class ApiKey(Output):
    id: uuid.UUID
    user_id: uuid.UUID | None = None
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class CreatedKey(Output):
    key: ApiKey
    secret: str
    """The key itself. Shown once: only its SHA-256 is stored."""


class UserWithKey(Output):
    """A user registered together with an API key (``agentkeep users create --with-key``)."""

    user: User
    api_key: CreatedKey
