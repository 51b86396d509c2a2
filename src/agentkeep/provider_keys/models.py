"""What callers send and get back for provider API keys. The key itself is only ever in
:class:`NewProviderKey` (as a SecretStr, hidden in reprs and errors) and in what ``reveal``
returns to the owner."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from agentkeep.models import Input, Output

Provider = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_.-]*$")]


class NewProviderKey(Input):
    provider: Provider
    api_key: SecretStr

    @field_validator("api_key")
    @classmethod
    def _sensible(cls, value: SecretStr) -> SecretStr:
        # Messages never quote the value: they may be printed or returned in a problem body.
        secret = value.get_secret_value()
        if not 8 <= len(secret) <= 1000:
            raise ValueError("an API key is 8 to 1000 characters")
        if secret != secret.strip() or any(ch.isspace() or ord(ch) < 32 for ch in secret):
            raise ValueError("an API key has no whitespace or control characters")
        return value


class ProviderKey(Output):
    """A stored key as lists show it: which provider, its last 4 characters, when."""

    provider: str
    key_last4: str
    created_at: datetime
    updated_at: datetime

    @property
    def masked(self) -> str:
        return f"…{self.key_last4}"
