"""The hot paths' generic plans on the partitioned ``messages``: the latest N stays a walk of the
partitions' indexes, newest month first, whatever ANALYZE has said about the partitions."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from agentkeep.database import migrate
from agentkeep.database.engine import PLAIN_DRIVER_SETTINGS, Database
from agentkeep.database.urls import asyncpg_dsn
from agentkeep.keep import Keep
from agentkeep.messages import repository
from agentkeep.messages.models import NewMessage
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser

pytestmark = pytest.mark.no_citus("the driver pool keeps the server's plan mode on Citus (engine.py)")


def _nodes(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, relation name or '') of every node of the plan."""
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


async def _generic_plan(
    owner: asyncpg.Connection,
    user_id: Any,
    conversation_id: Any,
    settings: dict[str, str],
    statement: repository.Statement = repository.LATEST,
) -> list[tuple[str, str]]:
    """The plan of the SDK's latest-N statement under ``settings`` (the pool's: a generic one),
    right after ANALYZE of every partition (the ones made ahead are empty: ANALYZE records them as
    holding no rows)."""
    async with owner.transaction():
        await owner.execute("ANALYZE messages")  # every partition, the empty ones made ahead too
        for name, value in settings.items():
            await owner.execute("SELECT set_config($1, $2, true)", name, value)
        await owner.execute("SELECT set_config('agentkeep.user_id', $1, true)", str(user_id))
        await owner.execute("PREPARE latest AS " + statement.sql)
        # Parameters of EXPLAIN EXECUTE cannot be bound: the UUIDs are ours, parsed, printed back.
        arguments = ", ".join(f"'{uuid.UUID(str(value))}'" for value in (user_id, conversation_id))
        [row] = await owner.fetch(f"EXPLAIN (FORMAT JSON) EXECUTE latest({arguments}, 50)")
        await owner.execute("DEALLOCATE latest")
        plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        # Part of the test's point: the partitions made ahead are there, and analyzed empty.
        empty = await owner.fetchval(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'messages'::regclass AND c.reltuples = 0"
        )
        assert empty >= 1
        return _nodes(plan[0]["Plan"])


async def test_latest_walks_the_partitions_indexes_when_empty_ones_are_analyzed(
    database_factory: Any,
) -> None:
    # A database of its own: ANALYZE writes row counts in place, which no rollback undoes.
    async with database_factory("agentkeep_scratch_partition_plans") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            keep = Keep(database, load_settings())
            user = await keep.users.create(NewUser(email=f"plans-{uuid.uuid4().hex[:12]}@example.com"))
            conversation = await keep.conversations.create(user.user_id)
            await keep.messages.append_many(
                user.user_id, conversation.id, [NewMessage(role="user", content=f"m{i}") for i in range(60)]
            )
            owner = await asyncpg.connect(asyncpg_dsn(urls.owner))
            try:
                # The context (blocked messages left out, revision 0013) walks the same indexes.
                plans = [
                    await _generic_plan(
                        owner, user.user_id, conversation.id, PLAIN_DRIVER_SETTINGS, statement
                    )
                    for statement in (repository.LATEST, repository.LATEST_CONTEXT)
                ]
            finally:
                await owner.close()
            for scans in plans:
                assert not [node for node, _relation in scans if node == "Sort"], scans
                messages_scans = [node for node, relation in scans if relation.startswith("messages_")]
                assert messages_scans and set(messages_scans) <= {"Index Scan", "Index Only Scan"}, scans
            assert plans[0] == plans[1]
            # The pool's settings are what keeps it so: a generic plan with the default enable_sort
            # may sort the whole conversation under the LIMIT once the filled month is large (165 ms
            # for the latest 50 of 10,000 on the benchmark fill; engine.py); too small here to show.
            assert PLAIN_DRIVER_SETTINGS["enable_sort"] == "off"
            # And the SDK answers through such a plan: the newest 50, oldest first.
            latest = await keep.messages.latest(user.user_id, conversation.id, 50)
            assert [m.content for m in latest] == [f"m{i}" for i in range(10, 60)]
        finally:
            await database.close()
