"""/api/provider-keys (seed 003's encrypted_api_keys): set, list masked, reveal (owner only),
delete; the key's plaintext reaches no response but the owner's reveal, no log, no audit entry,
no metric, no error message (docs/vault.md)."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from support import Account, assert_problem

from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.vault import cipher


async def test_set_list_reveal_delete(client: httpx.AsyncClient, alice: Account) -> None:
    url = "/api/provider-keys/anthropic"
    stored = await client.put(url, json={"api_key": "sk-ant-api03-abcdef-WXYZ"}, headers=alice.headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["provider"] == "anthropic" and stored.json()["key_last4"] == "WXYZ"
    listed = await client.get("/api/provider-keys", headers=alice.headers)
    assert [(k["provider"], k["key_last4"]) for k in listed.json()] == [("anthropic", "WXYZ")]
    replaced = await client.put(url, json={"api_key": "sk-ant-api03-second-1234"}, headers=alice.headers)
    assert replaced.json()["key_last4"] == "1234"
    revealed = await client.post(f"{url}/reveal", headers=alice.headers)
    assert revealed.json() == {"provider": "anthropic", "api_key": "sk-ant-api03-second-1234"}
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert_problem(await client.post(f"{url}/reveal", headers=alice.headers), 404)
    assert_problem(await client.delete(url, headers=alice.headers), 404)
    assert (await client.get("/api/provider-keys", headers=alice.headers)).json() == []


async def test_only_the_owner_reveals(
    client: httpx.AsyncClient, alice: Account, bob: Account, service: dict[str, str]
) -> None:
    await client.put(
        "/api/provider-keys/openai", json={"api_key": "sk-alice-only-0001"}, headers=alice.headers
    )
    # Bob has none of his own; alice's is out of his reach.
    assert_problem(await client.post("/api/provider-keys/openai/reveal", headers=bob.headers), 404)
    assert (await client.get("/api/provider-keys", headers=bob.headers)).json() == []
    as_service = service | {"X-Agentkeep-User": alice.user_id}
    assert_problem(await client.post("/api/provider-keys/openai/reveal", headers=as_service), 403)
    masked = await client.get("/api/provider-keys", headers=as_service)
    assert [k["key_last4"] for k in masked.json()] == ["0001"]


@pytest.mark.parametrize(
    ("provider", "body", "field"),
    [
        ("nobody-knows", {"api_key": "sk-c4n4ry-bad-provider"}, "provider"),
        ("openai", {"api_key": "c4n4ry"}, "api_key"),
        ("openai", {"api_key": "sk c4n4ry with spaces"}, "api_key"),
        ("Open AI", {"api_key": "sk-c4n4ry-123456"}, "provider"),
    ],
)
async def test_bad_input_is_a_problem_that_quotes_no_key(
    client: httpx.AsyncClient, alice: Account, provider: str, body: dict[str, str], field: str
) -> None:
    response = await client.put(f"/api/provider-keys/{provider}", json=body, headers=alice.headers)
    assert_problem(response, 422, field=field)
    assert "c4n4ry" not in response.text
    assert (await client.get("/api/provider-keys", headers=alice.headers)).json() == []


async def test_a_canary_key_reaches_no_log_audit_entry_metric_or_listing(
    client: httpx.AsyncClient,
    alice: Account,
    keep: Keep,
    owner: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = f"sk-CANARY-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    stored = await client.put("/api/provider-keys/google", json={"api_key": canary}, headers=alice.headers)
    assert stored.status_code == 200
    listed = await client.get("/api/provider-keys", headers=alice.headers)
    refused = await client.put("/api/provider-keys/nope", json={"api_key": canary}, headers=alice.headers)
    metrics = await client.get("/metrics")
    trail = await client.get("/api/audit", headers=alice.headers)
    for response in (stored, listed, refused, metrics, trail):
        assert canary not in response.text and canary[-12:] not in response.text
    assert canary not in caplog.text
    user_id = uuid.UUID(alice.user_id)
    async with owner.transaction():
        # SET LOCAL: what reaches the Citus workers too.
        await owner.execute("SET LOCAL agentkeep.principal = 'operator'")
        audit_text = await owner.fetchval(
            "SELECT string_agg(concat(old_values::text, new_values::text), '') FROM audit_log"
            " WHERE user_id = $1",
            user_id,
        )
        stored_row = await owner.fetchrow("SELECT * FROM provider_api_keys WHERE user_id = $1", user_id)
    assert canary not in audit_text and canary.encode().hex() not in audit_text
    assert stored_row["encrypted_key"].hex() in audit_text  # the trail holds the ciphertext only
    assert canary.encode() not in bytes(stored_row["encrypted_key"])
    # The owner's explicit read gives it back.
    revealed = await client.post("/api/provider-keys/google/reveal", headers=alice.headers)
    assert revealed.json()["api_key"] == canary
    assert canary not in caplog.text


async def test_the_vromm_view_has_the_seeds_shape(keep: Keep, make_user: Any, as_app: Any) -> None:
    """003: encrypted_api_keys JSONB, {"openai": "enc_...", "anthropic": "enc_..."}."""
    user = await make_user()
    await keep.provider_keys.set(user.user_id, "openai", "sk-vromm-openai-1")
    await keep.provider_keys.set(user.user_id, "anthropic", "sk-vromm-anthropic-2")
    async with as_app(Principal.user(user.user_id)) as conn:
        row = await conn.fetchrow("SELECT * FROM vromm.encrypted_api_keys")
        raw = await conn.fetchval(
            "SELECT encrypted_key FROM provider_api_keys WHERE user_id = $1 AND provider = 'openai'",
            user.user_id,
        )
    assert row["user_id"] == user.user_id
    document = json.loads(row["encrypted_api_keys"])
    assert set(document) == {"openai", "anthropic"}
    assert all(value.startswith("enc_") for value in document.values())
    envelope = base64.b64decode(document["openai"].removeprefix("enc_"))
    assert envelope == bytes(raw) and b"sk-vromm" not in envelope
    assert cipher.envelope_key_version(envelope) == 1
