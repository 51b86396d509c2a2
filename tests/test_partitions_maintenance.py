"""create_monthly_partition, ensure-ahead, listing, dropping, the advisory lock and routing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import asyncpg
import pytest

from agentkeep.database.engine import Database
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.partitions import (
    PartitionMaintenance,
    drop_partition,
    ensure_partitions,
    ensure_partitions_once,
    list_partitions,
)
from agentkeep.partitions.maintenance import ENSURE_LOCK_KEY
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA
from partition_helpers import uuid7_at, without_shard_id
from seed_helpers import act_as

BOUNDS = "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.relname = $1 AND c.relispartition"


async def test_create_monthly_partition_is_idempotent_with_uuid7_bounds(owner: asyncpg.Connection) -> None:
    for _ in range(2):
        await owner.execute("SELECT create_monthly_partition('messages', '2031-05-01')")
    bounds = await owner.fetchval(BOUNDS, "messages_2031_05")
    low = await owner.fetchval("SELECT agentkeep_uuid7_floor('2031-05-01 00:00Z')::text")
    high = await owner.fetchval("SELECT agentkeep_uuid7_floor('2031-06-01 00:00Z')::text")
    assert bounds == f"FOR VALUES FROM ('{low}') TO ('{high}')"
    assert low.startswith(f"{int(dt.datetime(2031, 5, 1, tzinfo=dt.UTC).timestamp() * 1000):012x}"[:8])
    assert low.endswith("-7000-8000-000000000000")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="first day of a month"):
        await owner.execute("SELECT create_monthly_partition('messages', '2031-05-02')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="not partitioned"):
        await owner.execute("SELECT create_monthly_partition('users', '2031-05-01')")


async def test_a_partitions_indexes_are_named_after_the_parents(owner: asyncpg.Connection) -> None:
    """<parent index>_YYYY_MM, so a violation on a partition still names the input field
    (agentkeep.database.errors), and never analyzed: latest N needs no statistics."""
    await owner.execute("SELECT create_monthly_partition('messages', '2031-08-01')")
    parents = await owner.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = 'messages'::regclass"
    )
    copies = await owner.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index"
        " WHERE indrelid = 'messages_2031_08'::regclass"
    )
    assert {row["name"] for row in copies} == {f"{row['name']}_2031_08" for row in parents}
    assert "pk_messages_2031_08" in {row["name"] for row in copies}
    keys = await owner.fetch(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'messages_2031_08'::regclass"
        " AND contype IN ('p', 'u')"
    )
    assert {row["conname"] for row in keys} == {
        "pk_messages_2031_08",
        "uq_messages_conversation_order_2031_08",
    }
    assert (
        await owner.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'messages_2031_08'::regclass") == -1
    )


@pytest.mark.parametrize("key_type", ["date", "timestamptz"])
async def test_create_monthly_partition_takes_date_keys(owner: asyncpg.Connection, key_type: str) -> None:
    table = f"partition_probe_{key_type}"
    await owner.execute(f"CREATE TABLE {table} (at {key_type} NOT NULL) PARTITION BY RANGE (at)")
    try:
        for _ in range(2):
            await owner.execute("SELECT create_monthly_partition($1, '2025-03-01')", table)
        bounds = await owner.fetchval(BOUNDS, f"{table}_2025_03")
        assert "2025-03-01" in bounds and "2025-04-01" in bounds
        await owner.execute(f"INSERT INTO {table} VALUES ('2025-03-31 23:59:59Z')")
        assert await owner.fetchval(f"SELECT tableoid::regclass::text FROM {table}") == f"{table}_2025_03"
    finally:
        await owner.execute(f"DROP TABLE {table}")


async def test_the_application_role_may_not_create_partitions(as_app: Any, make_user: Any) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="create_monthly_partition"):
            await conn.execute("SELECT create_monthly_partition('messages', '2031-07-01')")


async def test_seed_call_makes_the_governance_events_month_for_the_owner(owner: asyncpg.Connection) -> None:
    """001:342 verbatim, as the owner: governance_events is partitioned by month (revision 0012)."""
    async with owner.transaction():
        await owner.execute("SELECT create_monthly_partition('governance_events', '2025-03-01')")
        bounds = await owner.fetchval(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'governance_events_2025_03'"
        )
        await owner.execute("DROP TABLE governance_events_2025_03")
    floor = await owner.fetchval("SELECT agentkeep_uuid7_floor('2025-03-01T00:00:00Z')::text")
    assert bounds.startswith(f"FOR VALUES FROM ('{floor}')")
    with pytest.raises(asyncpg.UndefinedTableError, match="no_such_table"):
        await owner.execute("SELECT create_monthly_partition('no_such_table', '2025-03-01')")


async def test_ensure_makes_months_ahead_once(database: Database) -> None:
    async with database.owner_transaction() as conn:
        created = await ensure_partitions(conn, months=2, today=dt.date(2034, 1, 15))
        again = await ensure_partitions(conn, months=2, today=dt.date(2034, 1, 15))
        for table in ("governance_events", "messages"):
            for month in (1, 2, 3):
                assert await drop_partition(conn, table, dt.date(2034, month, 1))
    # Every partitioned table: messages (0006) and governance_events (0012).
    assert created == [
        f"{table}_2034_{month:02}" for table in ("governance_events", "messages") for month in (1, 2, 3)
    ]
    assert again == []


async def test_a_held_lock_makes_ensure_skip_and_concurrent_runs_do_not_collide(
    database: Database, owner: asyncpg.Connection
) -> None:
    async with owner.transaction():
        await owner.execute("SELECT pg_advisory_xact_lock($1)", ENSURE_LOCK_KEY)
        assert await ensure_partitions_once(database, 1) is None
    results = await asyncio.gather(*(ensure_partitions_once(database, 4) for _ in range(4)))
    assert all(result is None or isinstance(result, list) for result in results)
    this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
    names = {p.name for p in await _partitions(database)}
    assert f"messages_{this_month:%Y_%m}" in names


async def _partitions(database: Database) -> list[Any]:
    async with database.owner_transaction() as conn:
        return await list_partitions(conn, "messages")


async def test_rows_land_in_their_months_partition_and_list_counts_them(
    keep: Keep, make_user: Any, as_app: Any, database: Database, owner: asyncpg.Connection
) -> None:
    user = await make_user()
    conversation = await keep.conversations.create(user.user_id)
    stored = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="now"))
    async with database.owner_transaction() as conn:
        await ensure_partitions(conn, months=0, today=dt.date(2031, 9, 1))
    old = uuid7_at(dt.datetime(2031, 9, 30, 23, 59, 59, tzinfo=dt.UTC))
    async with owner.transaction():
        await act_as(owner, user.user_id)
        await owner.execute(
            "INSERT INTO messages (user_id, id, conversation_id, role, content)"
            " VALUES ($1, $2, $3, 'user', 'sept')",
            user.user_id,
            old,
            conversation.id,
        )
    async with as_app(Principal.user(user.user_id)) as conn:
        where = "SELECT tableoid::regclass::text FROM messages WHERE id = $1"
        # On Citus, tableoid is the shard's: <partition>_<shard id>.
        now = dt.datetime.now(dt.UTC)
        assert without_shard_id(await conn.fetchval(where, stored.id)) == f"messages_{now:%Y_%m}"
        assert without_shard_id(await conn.fetchval(where, old)) == "messages_2031_09"
        # No partition for 1999: a clear refusal, not a default partition that would later block
        # creating that month's partition.
        with pytest.raises(
            asyncpg.CheckViolationError, match=r'no partition of relation "messages(_\d+)?" found'
        ):
            await conn.execute(
                "INSERT INTO messages (user_id, id, conversation_id, role, content)"
                " VALUES ($1, $2, $3, 'user', 'x')",
                user.user_id,
                uuid7_at(dt.datetime(1999, 1, 1, tzinfo=dt.UTC)),
                conversation.id,
            )
    september = next(p for p in await _partitions(database) if p.name == "messages_2031_09")
    assert (september.month, september.rows) == (dt.date(2031, 9, 1), 1)
    # Retention deletes (and so audits) the rows it archived before a partition goes: a dropped
    # row with no DELETE entry is what `audit verify` reports as gone behind the trail's back.
    async with owner.transaction():
        await act_as(owner, user.user_id)
        await owner.execute("DELETE FROM messages WHERE user_id = $1 AND id = $2", user.user_id, old)
    async with database.owner_transaction() as conn:
        assert await drop_partition(conn, "messages", dt.date(2031, 9, 1))
        assert not await drop_partition(conn, "messages", dt.date(2031, 9, 1))
    assert not [p for p in await _partitions(database) if p.name == "messages_2031_09"]


async def test_the_application_role_cannot_read_a_partition_directly(as_app: Any, make_user: Any) -> None:
    user = await make_user()
    this_month = dt.datetime.now(dt.UTC)
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM messages_{this_month:%Y_%m}")


async def test_maintenance_logs_a_failure_and_keeps_going(urls: Any) -> None:
    broken = Database.from_urls(
        type(urls)(
            owner=urls.owner.set(database="agentkeep_no_such_database"),
            app=urls.app.set(database="agentkeep_no_such_database"),
            superuser=urls.superuser,
        ),
        schema=SCHEMA,
    )
    maintenance = PartitionMaintenance(broken, months_ahead=1, interval_seconds=0.01)
    try:
        maintenance.start()
        await asyncio.sleep(0.3)
        assert maintenance.runs >= 2, "the loop stopped after a failure"
        assert maintenance.last_error and "agentkeep_no_such_database" in maintenance.last_error
    finally:
        await maintenance.stop()
        await broken.close()


def test_cli_lists_and_ensures(tmp_path: Any) -> None:
    from cli_support import cli

    env: dict[str, str] = {}  # the embedded server in tmp_path
    assert cli(tmp_path, "migrate", "up", **env).returncode == 0
    made = cli(tmp_path, "partitions", "ensure", "--months", "2", "--json", **env)
    assert made.returncode == 0, made.stderr
    # The migration made this month's and the next; ensure adds the one after.
    in_two_months = (dt.datetime.now(dt.UTC).date().replace(day=1) + dt.timedelta(days=62)).replace(day=1)
    assert json.loads(made.stdout)["created"] == [
        f"{table}_{in_two_months:%Y_%m}" for table in ("governance_events", "messages")
    ]
    listed = cli(tmp_path, "partitions", "list", "--table", "messages", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    assert f"messages_{dt.datetime.now(dt.UTC):%Y_%m}" in {p["name"] for p in json.loads(listed.stdout)}
    bad = cli(tmp_path, "partitions", "list", "--table", "users", **env)
    assert bad.returncode == 1 and "not partitioned" in bad.stderr and "Traceback" not in bad.stderr
