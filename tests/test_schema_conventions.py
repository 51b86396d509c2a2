"""The conventions every table follows, checked on the declared tables and the live schema.

Seed 004's naming (plural snake_case tables, is_/has_ booleans, timezone-aware *_at columns), an
explicit ON DELETE on every foreign key, an index behind each, and updated_at kept by a trigger.
"""

from __future__ import annotations

import re

import asyncpg
import sqlalchemy as sa

from agentkeep.schema import metadata


def test_every_foreign_key_says_what_happens_on_delete() -> None:
    for table in metadata.sorted_tables:
        for constraint in table.constraints:
            if isinstance(constraint, sa.ForeignKeyConstraint):
                assert constraint.ondelete, f"{constraint.name} has no explicit ON DELETE"


# The audit trail: an entry is written once and carries occurred_at; a chain head is only the
# seq and hash of its chain's last entry (updated on every append, where a timestamp would cost).
APPEND_ONLY = {"audit_log", "audit_chain_heads"}


def test_names_follow_seed_004() -> None:
    plural_snake = re.compile(r"^[a-z]+(_[a-z]+)*s$")
    for table in metadata.sorted_tables:
        # Seed 001 names its audit log table; the seed's name wins (DESIGN.md, naming).
        assert plural_snake.match(table.name) or table.name == "audit_log", f"{table.name} is not plural"
        for column in table.c:
            # A seed that names a boolean keeps its name (governance_events.approved, seed 001).
            if isinstance(column.type, sa.Boolean) and not column.info.get("seed_named"):
                assert column.name.startswith(("is_", "has_")), f"{table.name}.{column.name}"
            if column.name.endswith("_at"):
                assert isinstance(column.type, sa.DateTime) and column.type.timezone, (
                    f"{table.name}.{column.name}"
                )
        if table.name in APPEND_ONLY:
            assert "occurred_at" in table.c or table.name == "audit_chain_heads"
            continue
        if table.info.get("append_only"):  # rows never change: created_at is their time
            assert "created_at" in table.c and "updated_at" not in table.c, table.name
            continue
        assert {"created_at", "updated_at"} <= set(table.c.keys()), f"{table.name} lacks timestamps"


async def test_updated_at_is_kept_by_a_trigger_on_every_table(owner: asyncpg.Connection) -> None:
    triggers = {
        row["table"]
        for row in await owner.fetch(
            "SELECT tgrelid::regclass::text AS table FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            # On Citus the audited reference tables use the variant whose time is the same on every
            # placement (revision 0005, docs/audit.md).
            " WHERE p.proname IN ('agentkeep_set_updated_at', 'agentkeep_set_updated_at_citus')"
            " AND NOT t.tgisinternal"
            # Citus keeps reference-table shards (<table>_<shard id>) on the coordinator too.
            " AND tgrelid::regclass::text !~ '_[0-9]+$'"
        )
    }
    assert triggers == {table.name for table in metadata.sorted_tables if "updated_at" in table.c}


async def test_every_foreign_key_is_backed_by_an_index(owner: asyncpg.Connection) -> None:
    """Cascades and joins from the referenced side must not scan the referencing table."""
    unindexed = await owner.fetch(
        """
        SELECT c.conrelid::regclass::text AS table, c.conname
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          AND NOT EXISTS (
              SELECT FROM pg_index i
              WHERE i.indrelid = c.conrelid
                AND (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] @> c.conkey
          )
        """
    )
    assert [tuple(row) for row in unindexed] == []
