"""Verification on several connections, each in a process of its own: the same breaks as on one
connection for tampering that was committed, all connections on one snapshot (a write committed
after it is not seen), contiguous ranges of chains, progress and failures passed back."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import asyncpg
import pytest

from agentkeep.audit import repository
from agentkeep.audit.parallel import RangeJob, check_in_processes, split_chains
from agentkeep.audit.service import verify_in_snapshot
from agentkeep.conversations.models import NewConversation
from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.snapshots import adopt_statement, shared_snapshot
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.errors import InvalidInput
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from audit_support import user_with_rows

pytestmark = pytest.mark.no_citus("tampers as a superuser; on Citus verification uses one connection")

Factory = Callable[[str], AbstractAsyncContextManager[DatabaseUrls]]


async def test_parallel_verify_names_the_same_breaks_as_one_connection(database_factory: Factory) -> None:
    async with database_factory("agentkeep_audit_parallel") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            keep = Keep(database, load_settings())
            users = [await user_with_rows(keep, text=f"u{n}", messages=4) for n in range(5)]
            assert (await keep.audit.verify(connections=3)).ok
            forged, removed, changed = (user.user_id for user in users[:3])
            assert urls.superuser is not None
            admin = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=urls.owner.database)))
            try:
                await admin.execute("SET session_replication_role = replica")
                await admin.execute(
                    "UPDATE audit_log SET new_values = jsonb_set(new_values, '{content}', '\"forged\"')"
                    " WHERE user_id = $1 AND seq = (SELECT max(seq) FROM audit_log"
                    " WHERE user_id = $1 AND table_name = 'messages')",
                    forged,
                )
                await admin.execute("DELETE FROM audit_log WHERE user_id = $1 AND seq = 2", removed)
                await admin.execute("UPDATE messages SET content = 'changed' WHERE user_id = $1", changed)
            finally:
                await admin.close()

            one = await keep.audit.verify(connections=1)
            several = await keep.audit.verify(connections=3)
        finally:
            await database.close()
    assert {broken.user_id for broken in one.breaks} == {str(forged), str(removed)}
    # The four changed messages, and the row whose only entry was removed.
    live_users = [str(problem.user_id) for problem in one.live_rows]
    assert (live_users.count(str(changed)), set(live_users)) == (4, {str(changed), str(removed)})
    assert several.breaks == one.breaks
    assert several.live_rows == one.live_rows
    assert (several.entries, several.chains) == (one.entries, one.chains)


async def test_every_connection_reads_the_coordinators_snapshot(keep: Keep, database: Database) -> None:
    user = await user_with_rows(keep, messages=2)
    chat = await keep.conversations.create(user.user_id, NewConversation(title="late"))
    dsn = asyncpg_dsn(database.urls.owner)
    async with shared_snapshot(dsn, [repository.ACT_AS_OPERATOR]) as snapshot:
        # The snapshot is taken by the coordinator's first statement...
        before = await snapshot.coordinator.fetchval("SELECT count(*) FROM audit_log")
        # ...so a write committed now is in no connection's view, however late it joins.
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="late"))
        report = await verify_in_snapshot(snapshot, repository.audited_tables(SCHEMA.metadata), connections=2)
        joined = await snapshot.workers(1)
        seen_late = await joined[0].fetchval(
            "SELECT count(*) FROM messages WHERE user_id = $1 AND content = 'late'", user.user_id
        )
    assert report.breaks == [], report
    assert [problem for problem in report.live_rows if problem.user_id == str(user.user_id)] == []
    assert report.entries == before
    assert seen_late == 0
    assert (await keep.audit.verify(user.user_id)).ok


def test_chains_are_split_whole_into_contiguous_ranges_of_about_equal_entries() -> None:
    chains = [("c", 50), ("a", 100), ("e", 1), ("b", 60), ("d", 10)]
    ranges = split_chains(chains, 2)
    # Each range is one stretch of the primary key, read in order without a sort; together
    # they cover every chain once.
    assert ranges == [("a", "a"), ("b", "e")]
    weights = dict(chains)
    totals = [sum(w for user, w in weights.items() if first <= user <= last) for first, last in ranges]
    assert totals == [100, 121]
    assert split_chains(chains[:1], 4) == [("c", "c")]
    assert split_chains([], 3) == []
    many = [(f"u{n:03}", 10) for n in range(100)]
    assert [last for _, last in split_chains(many, 4)] == ["u024", "u049", "u074", "u099"]


async def test_processes_report_progress_and_a_failure_by_its_message(keep: Keep, database: Database) -> None:
    await user_with_rows(keep, messages=3)
    dsn = asyncpg_dsn(database.urls.owner)
    seen: list[int] = []
    async with shared_snapshot(dsn, [repository.ACT_AS_OPERATOR]) as snapshot:
        heads = await repository.heads(snapshot.coordinator, None)
        first, last = min(heads), max(heads)
        job = RangeJob(dsn, await snapshot.export(), tuple(snapshot.settings), (first, last), heads, {})
        assert RangeJob.from_json(job.to_json()) == job
        [found] = await check_in_processes([job], seen.append)
        expected = await snapshot.coordinator.fetchval("SELECT count(*) FROM audit_log")
        broken = RangeJob(dsn, "not-a-snapshot", (), (first, last), heads, {})
        with pytest.raises(RuntimeError, match="unexpected snapshot id"):
            await check_in_processes([broken], None)
    assert (found.entries, sum(seen), found.breaks) == (expected, expected, [])
    assert found.seen == set(heads)


@pytest.mark.parametrize("snapshot_id", ["00000003-0000001B-1'; DROP TABLE x; --", "abc", ""])
def test_a_snapshot_id_of_another_form_is_never_written_into_sql(snapshot_id: str) -> None:
    with pytest.raises(ValueError, match="snapshot id"):
        adopt_statement(snapshot_id, [])
    assert "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'" in adopt_statement("00000003-0000001B-1", [])


async def test_connections_must_be_at_least_one(keep: Keep) -> None:
    with pytest.raises(InvalidInput, match="connections"):
        await keep.audit.verify(connections=0)
