"""Revision 0006: messages become monthly partitions with their rows and everything they had."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.roles import OWNER_ROLE
from agentkeep.schema import SCHEMA
from partition_helpers import add_user_and_conversation, connect, month_start, uuid7_at, without_shard_id

# What must survive the rebuild, read from the catalogs (partitions' own objects left out).
OBJECTS = {
    "constraints": "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'messages'::regclass AND conparentid = 0",
    "foreign_keys_in": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint"
    " WHERE confrelid = 'messages'::regclass AND conrelid <> confrelid AND conparentid = 0",
    "indexes": "SELECT indexname, replace(indexdef, ' ON ONLY ', ' ON ') FROM pg_indexes"
    " WHERE tablename = 'messages'",
    "triggers": "SELECT tgname, pg_get_triggerdef(oid), tgenabled FROM pg_trigger"
    " WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal",
    "policies": "SELECT policyname, permissive, roles::text, cmd, qual, with_check FROM pg_policies"
    " WHERE tablename = 'messages'",
    "security": "SELECT relrowsecurity, relforcerowsecurity, relacl::text FROM pg_class"
    " WHERE oid = 'messages'::regclass",
    "comments": "SELECT objsubid, description FROM pg_description WHERE objoid = 'messages'::regclass",
    "views": "SELECT viewname, definition FROM pg_views WHERE definition ~ 'messages'",
}
ROWS = "SELECT * FROM messages ORDER BY id"
AGENT_NAMES = "SELECT DISTINCT agent_name FROM messages"
# Objects a later revision may put on messages (like 0005's audit trigger, which is there too):
# the conversion reads them from the catalogs, so they must come along.
EXTRAS = [
    f"SET ROLE {OWNER_ROLE}",
    # A row trigger that fires leaves its name in agent_name: the copied rows must keep theirs.
    """CREATE FUNCTION partition_probe_mark() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.agent_name := TG_NAME; RETURN NEW; END $$""",
    "CREATE TRIGGER probe_mark BEFORE INSERT OR UPDATE ON messages"
    " FOR EACH ROW EXECUTE FUNCTION partition_probe_mark()",
    "CREATE TRIGGER switched_off BEFORE INSERT ON messages"
    " FOR EACH ROW EXECUTE FUNCTION partition_probe_mark()",
    "ALTER TABLE messages DISABLE TRIGGER switched_off",
    "COMMENT ON TABLE messages IS 'threaded messages'",
    "COMMENT ON COLUMN messages.content IS 'what was said'",
    "COMMENT ON CONSTRAINT ck_messages_role_valid ON messages IS 'the four roles'",
    "CREATE VIEW message_probe WITH (security_invoker = true) AS"
    " SELECT user_id, id, content FROM messages WHERE deleted_at IS NULL",
    "RESET ROLE",
]
ON_CITUS = ["SET citus.enable_unsafe_triggers = on", *EXTRAS]


async def _snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    found: dict[str, Any] = {
        kind: sorted(tuple(row) for row in await conn.fetch(sql)) for kind, sql in OBJECTS.items()
    }
    found["rows"] = [tuple(row) for row in await conn.fetch(ROWS)]
    return found


async def _fill(conn: asyncpg.Connection) -> None:
    """Rows of January, February's last millisecond, March 2025 and now; each a reply to the one before."""
    for _ in range(2):
        user_id, conversation_id = await add_user_and_conversation(conn)
        parent = None
        for moment in (
            month_start(2025, 1),
            month_start(2025, 3) - dt.timedelta(milliseconds=1),
            month_start(2025, 3),
            dt.datetime.now(dt.UTC),
        ):
            message_id = uuid7_at(moment)
            await conn.execute(
                "INSERT INTO messages (user_id, id, conversation_id, parent_message_id, role, content,"
                " agent_name, metadata, token_count)"
                " VALUES ($1, $2, $3, $4, 'user', $5, 'kai', '{\"k\": 1}', 7)",
                user_id,
                message_id,
                conversation_id,
                parent,
                f"said at {moment.isoformat()}",
            )
            parent = message_id


async def _reltuples(conn: asyncpg.Connection, table: str, on_citus: int) -> list[float]:
    """The planner's row count of ``table``; on Citus, its shards' (where queries are planned):
    [-1] if none was analyzed, else the sum of the analyzed ones."""
    query = "SELECT reltuples FROM pg_class WHERE oid = '%s'::regclass"
    if not on_citus:
        return [await conn.fetchval(query.replace("'%s'", "$1"), table)]
    rows = await conn.fetch("SELECT result FROM run_command_on_shards($1, $2)", table, query)
    counts = [float(row["result"]) for row in rows]
    return [-1] if all(count == -1 for count in counts) else [sum(c for c in counts if c > 0)]


async def _partitions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT relid::text FROM pg_partition_tree('messages') WHERE isleaf ORDER BY 1")
    return [row[0] for row in rows]


async def test_messages_go_to_partitions_and_back_with_rows_and_objects(database_factory: Any) -> None:
    async with database_factory("agentkeep_scratch_partition_convert") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database, "0005")
            async with connect(urls.superuser.set(database=urls.owner.database)) as su:
                await _fill(su)
                on_citus = await su.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
                for statement in ON_CITUS if on_citus else EXTRAS:
                    await su.execute(statement)
                before = await _snapshot(su)
                assert len(before["rows"]) == 8
                assert {row["agent_name"] for row in await su.fetch(AGENT_NAMES)} == {"kai"}

                await migrate.upgrade(database, "0006")
                assert (
                    await su.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'messages'::regclass")
                    == "p"
                )
                this_month = dt.datetime.now(dt.UTC).date().replace(day=1)
                next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
                expected = {"messages_2025_01", "messages_2025_02", "messages_2025_03"}
                expected |= {f"messages_{this_month:%Y_%m}", f"messages_{next_month:%Y_%m}"}
                assert await _partitions(su) == sorted(expected)
                # Months with rows are analyzed, the empty month made ahead is not (docs/partitions.md,
                # "Latest N without statistics"); each month's keys are named after the parent's.
                stats = {name: await _reltuples(su, name, on_citus) for name in expected}
                assert stats["messages_2025_01"] == [2] and stats[f"messages_{next_month:%Y_%m}"] == [-1]
                assert (
                    await su.fetchval(
                        "SELECT count(*) FROM pg_constraint WHERE conname = 'pk_messages_2025_03'"
                        " AND conrelid = 'messages_2025_03'::regclass"
                    )
                    == 1
                )
                # Each row sits in its month's partition (the millisecond before March is February's).
                placed = await su.fetch("SELECT tableoid::regclass::text AS part, content FROM messages")
                for row in placed:
                    moment = dt.datetime.fromisoformat(row["content"].removeprefix("said at "))
                    # On Citus the row is read from a shard of the partition: <partition>_<shard id>.
                    assert without_shard_id(row["part"]) == f"messages_{moment:%Y_%m}"
                partitioned = await _snapshot(su)
                assert partitioned == before
                assert {row["agent_name"] for row in await su.fetch(AGENT_NAMES)} == {"kai"}, (
                    "triggers fired on the copy"
                )

                await migrate.downgrade(database, "0005")
                assert (
                    await su.fetchval("SELECT relkind::text FROM pg_class WHERE oid = 'messages'::regclass")
                    == "r"
                )
                assert await _snapshot(su) == before

                await migrate.upgrade(database, "0006")
                assert await _snapshot(su) == before
                # The carried-over trigger still fires for new rows; the disabled one stays off.
                user_id, conversation_id = await add_user_and_conversation(su)
                await su.execute(
                    "INSERT INTO messages (user_id, id, conversation_id, role, content)"
                    " VALUES ($1, $2, $3, 'user', 'x')",
                    user_id,
                    uuid7_at(dt.datetime.now(dt.UTC)),
                    conversation_id,
                )
                # On Citus the trigger that fires is the shard's copy: <trigger>_<shard id>.
                rows = await su.fetch(AGENT_NAMES)
                names = {without_shard_id(row["agent_name"]) for row in rows}
                assert names == {"kai", "probe_mark"}, names
                await su.execute("DROP VIEW message_probe")
                for trigger in ("probe_mark", "switched_off"):  # one at a time for Citus
                    await su.execute(f"DROP TRIGGER {trigger} ON messages")
        finally:
            await database.close()
