"""Erasure: the user's data keys go first (a ciphertext copied out beforehand stays noise), then
their rows, then their audit payloads; no canary written before is left in any table or in a
pg_dump, the chains still verify, and nobody else's data is touched."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from agentkeep.conversations.models import NewConversation
from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.engine import Database
from agentkeep.decisions.models import NewDecision
from agentkeep.errors import NotFound
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import NewUser
from agentkeep.vault.cipher import DecryptionError
from agentkeep.vault.keyring import KeyDestroyed
from audit_support import NIL, pg_dump_data, superuser, tables_holding, user_with_rows
from cli_support import cli, one_error_line
from privacy_support import seal_secret


async def _user_full_of_canaries(keep: Keep) -> tuple[uuid.UUID, list[str], bytes]:
    mark = uuid.uuid4().hex[:10]
    canaries = [f"erasecanary{n}x{mark}" for n in range(9)]
    user = await keep.users.create(
        NewUser(email=f"{canaries[0]}@example.com", username=canaries[1], full_name=canaries[2])
    )
    chat = await keep.conversations.create(user.user_id, NewConversation(title=canaries[3]))
    await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content=canaries[4]))
    await keep.user_sessions.start(user.user_id, NewUserSession(user_agent=canaries[5]))
    envelope = await seal_secret(keep, user.user_id, canaries[6])
    await keep.decisions.create(
        user.user_id, NewDecision(decision_type="review", subject=canaries[7], rationale=canaries[8])
    )
    return user.user_id, canaries, envelope


async def test_erasure_leaves_no_canary_no_key_and_the_chains_verify(keep: Keep, database: Database) -> None:
    user_id, canaries, envelope = await _user_full_of_canaries(keep)
    bystander = await user_with_rows(keep, text=f"bystander {uuid.uuid4().hex[:8]}")
    before = await keep.audit.verify(bystander.user_id)
    assert await tables_holding(database, canaries)  # the canaries are really there

    report = await keep.privacy.erase(user_id)

    assert report.data_keys_destroyed >= 1
    assert report.rows_deleted["users"] == 1 and report.rows_deleted["messages"] == 1
    assert report.rows_deleted["conversations"] == 1 and report.rows_deleted["user_sessions"] == 1
    assert report.rows_deleted["decisions"] == 1 and report.rows_deleted["vault_keys"] >= 1
    assert report.audit_entries_redacted >= report.total_rows
    assert await tables_holding(database, canaries) == []
    dump = await pg_dump_data(database)
    assert "audit_log" in dump
    assert [canary for canary in canaries if canary in dump] == []
    # The envelope copied out before erasure: nothing agentkeep still holds opens it.
    with pytest.raises((DecryptionError, NotFound, KeyDestroyed)):
        async with keep.database.transaction(Principal.service(user_id)) as tx:
            await keep.keyring.unseal(
                tx.driver, user_id, "provider_api_keys", "encrypted_key", "openai", envelope
            )
    for chain in (user_id, NIL, bystander.user_id):
        verified = await keep.audit.verify(chain)
        assert verified.ok, (chain, verified.breaks, verified.live_rows)
    assert (await keep.audit.verify(bystander.user_id)).entries == before.entries
    async with superuser(database) as conn:
        erase_entry = await conn.fetchrow(
            "SELECT new_values FROM audit_log WHERE user_id = $1 AND action_type = 'ERASE'"
            " AND new_values ->> 'user_id' = $2",
            NIL,
            str(user_id),
        )
        bystander_rows = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE user_id = $1", bystander.user_id
        )
    assert erase_entry is not None
    assert json.loads(erase_entry["new_values"])["rows_deleted"] == report.rows_deleted
    assert bystander_rows == 3


async def test_erasing_twice_or_a_stranger_is_not_found(keep: Keep) -> None:
    user = await user_with_rows(keep, text="twice")
    await keep.privacy.erase(user.user_id)
    with pytest.raises(NotFound):
        await keep.privacy.erase(user.user_id)
    with pytest.raises(NotFound):
        await keep.privacy.erase(uuid.uuid4())


async def test_erasure_after_the_keys_went_finishes_the_rest(keep: Keep, database: Database) -> None:
    """An erasure cut off after step 1 (keys destroyed, rows still there) is finished by the next."""
    user = await user_with_rows(keep, text="interrupted")
    await seal_secret(keep, user.user_id, "sk-half-way")
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        assert await keep.keyring.destroy(tx.driver, user.user_id) == 1
    report = await keep.privacy.erase(user.user_id)
    assert report.data_keys_destroyed == 0
    assert report.rows_deleted["messages"] == 3
    async with keep.database.transaction(Principal.service(user.user_id)) as tx:
        assert await tx.driver.fetchval("SELECT count(*) FROM users WHERE user_id = $1", user.user_id) == 0


@pytest.mark.no_citus("the CLI attaches to the embedded server")
async def test_the_cli_exports_then_erases(
    keep: Keep, database: Database, embedded_server: EmbeddedServer, tmp_path: Path
) -> None:
    user = await user_with_rows(keep, text="cli")
    home = embedded_server.pgdata.parent
    name = database.urls.owner.database
    assert name is not None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(home, "users", *args, AGENTKEEP_DATABASE_NAME=name)

    target = tmp_path / "export.json"
    exported = await asyncio.to_thread(run, "export", str(user.user_id), "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(target.read_text())
    assert sorted(row["content"] for row in document["tables"]["messages"]) == ["cli 0", "cli 1", "cli 2"]
    assert _partials(tmp_path) == []
    bad = await asyncio.to_thread(run, "export", "not-a-user")
    assert bad.returncode == 1 and "USER" in one_error_line(bad)
    unknown = await asyncio.to_thread(run, "export", str(uuid.uuid4()), "--output", str(tmp_path / "no.json"))
    assert unknown.returncode == 1 and "not found" in one_error_line(unknown)
    assert _partials(tmp_path) == [] and "no.json" not in os.listdir(tmp_path)

    refused = await asyncio.to_thread(run, "erase", str(user.user_id))
    assert refused.returncode == 1 and "--yes" in one_error_line(refused)
    done = await asyncio.to_thread(run, "erase", str(user.user_id), "--yes", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["user_id"] == str(user.user_id) and report["rows_deleted"]["messages"] == 3
    again = await asyncio.to_thread(run, "erase", str(user.user_id), "--yes")
    assert again.returncode == 1 and "not found" in one_error_line(again)


def _partials(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if name.endswith(".partial")]
