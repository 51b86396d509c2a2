"""/api/operator/audit: verification, heads and redaction for operator keys only."""

from __future__ import annotations

import httpx
import pytest
from support import Account, assert_problem, bearer

from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from audit_support import superuser

VERIFY = "/api/operator/audit/verify"
HEAD = "/api/operator/audit/head"
NO_TRIGGERS_ON_CITUS = "migration 0005 installs no audit row triggers on Citus yet (docs/audit.md)"


@pytest.fixture
async def operator(keep: Keep) -> dict[str, str]:
    created = await keep.access_keys.create_operator_key("audit api tests")
    return bearer(created.secret)


async def _write(client: httpx.AsyncClient, account: Account, title: str) -> str:
    made = await client.post("/api/conversations", json={"title": title}, headers=account.headers)
    assert made.status_code == 201, made.text
    conversation_id: str = made.json()["id"]
    return conversation_id


@pytest.mark.no_citus(NO_TRIGGERS_ON_CITUS)
async def test_an_untouched_chain_verifies_and_its_head_is_listed(
    client: httpx.AsyncClient, operator: dict[str, str], alice: Account
) -> None:
    await _write(client, alice, "first")
    report = await client.get(VERIFY, params={"user": alice.user_id}, headers=operator)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["ok"] is True and body["breaks"] == [] and body["live_rows"] == []
    assert body["chains"] == 1 and body["entries"] >= 2  # the user, the conversation (and more)
    heads = await client.get(HEAD, headers=operator)
    assert heads.status_code == 200, heads.text
    assert heads.json()[alice.user_id]["seq"] == body["entries"]


@pytest.mark.no_citus("a superuser connection to the coordinator writes the row behind the triggers' back")
async def test_a_row_changed_behind_the_triggers_back_is_reported(
    client: httpx.AsyncClient, operator: dict[str, str], alice: Account, database: Database
) -> None:
    conversation_id = await _write(client, alice, "honest title")
    async with superuser(database) as conn:
        tamper = "UPDATE conversations SET title = $2 WHERE id = $1"
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(tamper, conversation_id, "rewritten")
        try:
            body = (await client.get(VERIFY, params={"user": alice.user_id}, headers=operator)).json()
        finally:
            # Put it back as it was (the trail says so), for the tests that verify everything.
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(tamper, conversation_id, "honest title")
    assert body["ok"] is False
    [problem] = body["live_rows"]
    assert problem["table_name"] == "conversations" and conversation_id in (problem["record_id"] or "")


@pytest.mark.no_citus(NO_TRIGGERS_ON_CITUS)
async def test_redaction_keeps_the_chain_valid(
    client: httpx.AsyncClient, operator: dict[str, str], alice: Account
) -> None:
    await _write(client, alice, "a title that is personal")
    redacted = await client.post(f"/api/operator/audit/redact/{alice.user_id}", headers=operator)
    assert redacted.status_code == 200, redacted.text
    assert redacted.json()["redacted"] >= 2
    body = (await client.get(VERIFY, params={"user": alice.user_id}, headers=operator)).json()
    assert body["ok"] is True, body


@pytest.mark.parametrize("route", [VERIFY, HEAD])
async def test_user_and_service_keys_are_forbidden(
    client: httpx.AsyncClient, alice: Account, service: dict[str, str], route: str
) -> None:
    for headers in (alice.headers, service):
        response = await client.get(route, headers=headers)
        assert_problem(response, 403)
    response = await client.post(f"/api/operator/audit/redact/{alice.user_id}", headers=alice.headers)
    assert_problem(response, 403)


async def test_a_bad_user_id_names_the_parameter(client: httpx.AsyncClient, operator: dict[str, str]) -> None:
    response = await client.get(VERIFY, params={"user": "not-a-uuid"}, headers=operator)
    assert_problem(response, 422, field="user")
