"""Helpers of the test_privacy_* modules: a vault-sealed canary."""

from __future__ import annotations

import uuid

from agentkeep.keep import Keep
from audit_support import superuser


async def seal_secret(keep: Keep, user_id: uuid.UUID, secret: str) -> bytes:
    """Store ``secret`` sealed by the vault (a provider API key) and return its envelope as
    stored, read behind the application's back (as someone copying the database would)."""
    await keep.provider_keys.set(user_id, "openai", secret)
    async with superuser(keep.database) as conn:
        envelope = await conn.fetchval(
            "SELECT encrypted_key FROM provider_api_keys WHERE user_id = $1 AND provider = 'openai'", user_id
        )
    assert isinstance(envelope, bytes) and secret.encode() not in envelope
    return envelope
