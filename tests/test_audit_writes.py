"""Every write to every audited table gives exactly one audit entry, with the right old and new
values, in the right chain (the row's user, or the operator chain for catalog/operator tables)."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import trust_support
from agentkeep.audit.repository import audited_tables
from agentkeep.database.engine import Database
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.schema import metadata
from audit_support import NIL, ON_CITUS, superuser, user_with_rows

AUDITED = [table.name for table in audited_tables(metadata)]
TRUST_TABLES = ("agent_trust_levels", "agent_trust_changes", "trust_metrics")
# Distributed by the handle, so on another worker than the user's audit shard (docs/audit.md).
HANDLE_TABLES = [table for table in AUDITED if metadata.tables[table].info.get("tenancy") == "handle"]
NOT_ON_CITUS_HANDLES = pytest.mark.no_citus(
    "handle tables are not audited on Citus: a handle's shard is on another worker than its "
    "user's audit shard"
)


def test_every_table_but_the_audit_tables_is_audited() -> None:
    assert set(AUDITED) == set(metadata.tables) - {"audit_log", "audit_chain_heads"}
    assert {"users", "messages", "agents", "vocabulary_terms", "user_emails"} <= set(AUDITED)


async def test_each_audited_table_has_its_named_row_trigger(owner: Any) -> None:
    names = {
        row[0]
        for row in await owner.fetch(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'audit\\_%'"
        )
    }
    expected = set(AUDITED) - set(HANDLE_TABLES) if ON_CITUS else set(AUDITED)
    assert {f"audit_{table}" for table in expected} <= names
    assert ON_CITUS is not ({f"audit_{table}" for table in HANDLE_TABLES} <= names)
    # Revision 0015: inserts are audited per statement, except on Citus (docs/audit.md).
    assert ON_CITUS is not ({f"audit_{table}_insert" for table in expected} <= names)


OUTSIDE_PARTIAL_UNIQUE: dict[str, dict[str, Any]] = {
    "vault_keys": {"state": "destroyed", "wrapped_key": None},
    "vault_master_keys": {"state": "retired"},
    "profiles": {"is_active": False},
    "consent_tiers": {"is_active": False},  # a scope's second row is an inactive one (0013)
}


# Key columns tied to a vocabulary: the copy takes a term no test gives the filled users.
KEY_TERMS: dict[str, dict[str, str]] = {"provider_api_keys": {"provider": "google"}}
# ... and the copied row is one of a user who does not hold that term yet (other tests may give it).
COPY_FROM: dict[str, str] = {
    "provider_api_keys": "WHERE NOT EXISTS (SELECT FROM provider_api_keys AS g"
    " WHERE g.user_id = t.user_id AND g.provider = 'google')"
}


def _fresh_copy(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with new values in its key and unique columns, so it can be inserted beside it."""
    key = {column.name for column in table.primary_key.columns}
    unique = set(key)
    groups = [set(c.columns.keys()) for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
    partial = [index for index in table.indexes if index.unique and _predicate(index) is not None]
    groups += [
        {column.name for column in index.columns}
        for index in table.indexes
        if index.unique and index not in partial
    ]
    for group in groups:
        if not group & (key - {"user_id"}):  # a new key already makes the others unique
            unique |= group
    copy = {name: value for name, value in row.items() if not table.c[name].computed}
    for name in unique:
        if name in KEY_TERMS.get(table.name, {}):
            copy[name] = KEY_TERMS[table.name][name]
            continue
        if name == "user_id" and table.name != "users":
            continue
        value = copy[name]
        if isinstance(value, bool):
            copy[name] = False
        elif isinstance(value, int):
            copy[name] = value + 1_000_000  # a key version
        elif name == "email" or name.endswith("_email"):
            copy[name] = f"copy-{uuid.uuid4().hex[:10]}@example.com"
        elif isinstance(value, str) and value.startswith("\\x"):
            copy[name] = "\\x" + os.urandom((len(value) - 2) // 2).hex()  # bytea: same length
        elif isinstance(value, str):
            try:
                uuid.UUID(value)
                copy[name] = str(new_id())  # UUIDv7: messages are partitioned by id's month
            except ValueError:
                copy[name] = f"copy_{uuid.uuid4().hex[:10]}"
    if partial:
        # A row inside a partial unique index (a user's one active key) cannot be copied beside
        # itself: the copy takes values outside it.
        assert table.name in OUTSIDE_PARTIAL_UNIQUE, f"{table.name}: say how a copy leaves {partial}"
        copy |= OUTSIDE_PARTIAL_UNIQUE[table.name]
    return copy


def _predicate(index: sa.Index) -> Any:
    return index.dialect_options["postgresql"]["where"]


@pytest.mark.parametrize(
    "table_name",
    [pytest.param(name, marks=NOT_ON_CITUS_HANDLES) if name in HANDLE_TABLES else name for name in AUDITED],
)
async def test_insert_update_delete_each_give_one_entry(
    table_name: str, keep: Keep, database: Database
) -> None:
    user = await user_with_rows(keep)
    if table_name in TRUST_TABLES:  # earned, not written: five approvals make one row of each
        run = await trust_support.session(keep, user.user_id, await trust_support.agent(keep))
        for _ in range(5):
            await trust_support.decide(keep, user.user_id, run, "approved")
    await keep.access_keys.create(user.user_id)
    await keep.access_keys.create_service_key(f"audit-{uuid.uuid4().hex[:6]}")
    await keep.access_keys.create_operator_key(f"audit-{uuid.uuid4().hex[:6]}")
    async with superuser(database) as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            if ON_CITUS and table_name == "agent_trust_levels":
                # Its copy needs a copy of its agent (a reference table), which Citus writes only
                # after the random pick's multi-shard read if that read used one connection per node.
                await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
            await _write_and_check(conn, table_name)
        finally:
            await transaction.rollback()  # leave nothing behind


async def _copy_parents(conn: Any, table: sa.Table, original: dict[str, Any], copy: dict[str, Any]) -> None:
    """A copy of each parent row a renewed key column of ``copy`` refers to (a table whose key is
    its parent's, like onboarding_answers), so the copy has a parent of its own."""
    for key in table.foreign_key_constraints:
        local = [column.name for column in key.columns]
        if any(name not in copy for name in local) or not any(
            name != "user_id" and copy[name] != original[name] for name in local
        ):
            continue
        parent = key.referred_table
        remote = [element.column.name for element in key.elements]
        where = " AND ".join(f"t.{name} = r.{name}" for name in remote)
        record = f"jsonb_populate_record(NULL::{parent.name}, $1::jsonb)"
        found = dict(zip(remote, (original[name] for name in local), strict=True))
        row = json.loads(
            await conn.fetchval(
                f"SELECT to_jsonb(t)::text FROM {parent.name} AS t, {record} AS r WHERE {where}",
                json.dumps(found),
            )
        )
        fresh = {name: value for name, value in row.items() if not parent.c[name].computed}
        if parent.name == "agents":  # agent names are unique (an agent_trust_levels copy needs one)
            fresh["name"] = f"{fresh['name']}-{uuid.uuid4().hex[:6]}"
        fresh |= dict(zip(remote, (copy[name] for name in local), strict=True))
        columns = ", ".join(fresh)
        await conn.execute(
            f"INSERT INTO {parent.name} ({columns}) SELECT {columns} FROM {record}", json.dumps(fresh)
        )


async def _write_and_check(conn: Any, table_name: str) -> None:
    table = metadata.tables[table_name]
    if True:
        row_json = await conn.fetchval(
            f"SELECT to_jsonb(t)::text FROM {table_name} AS t {COPY_FROM.get(table_name, '')}"
            " ORDER BY random() LIMIT 1"
        )
        assert row_json is not None, f"no row in {table_name} to copy"
        original = json.loads(row_json)
        copy = _fresh_copy(table, original)
        await _copy_parents(conn, table, original, copy)
        # Revision 0013: an activity is inserted as proposed; a tier copy keeps its scope.
        if table_name == "agent_activities":
            copy["status"] = "proposed"
        if table_name == "consent_tiers":
            copy["scope"] = original["scope"]
        on_user_chain = table.info["tenancy"] in ("user", "handle")
        chain = uuid.UUID(copy["user_id"]) if on_user_chain else NIL
        before = int(
            await conn.fetchval("SELECT coalesce(max(seq), 0) FROM audit_log WHERE user_id = $1", chain)
        )
        key = {column.name: copy[column.name] for column in table.primary_key.columns}
        where = " AND ".join(f"t.{name} = r.{name}" for name in key)
        columns = ", ".join(copy)
        record = f"jsonb_populate_record(NULL::{table_name}, $1::jsonb)"
        await conn.execute(
            f"INSERT INTO {table_name} ({columns}) SELECT {columns} FROM {record}",
            json.dumps(copy),
        )
        inserted = json.loads(
            await conn.fetchval(
                f"SELECT to_jsonb(t)::text FROM {table_name} AS t, {record} AS r WHERE {where}",
                json.dumps(key),
            )
        )
        some_column = next(c.name for c in table.columns if c.name not in key and not c.computed)
        await conn.execute(
            f"UPDATE {table_name} AS t SET {some_column} = t.{some_column} FROM {record} AS r WHERE {where}",
            json.dumps(key),
        )
        updated = json.loads(
            await conn.fetchval(
                f"SELECT to_jsonb(t)::text FROM {table_name} AS t, {record} AS r WHERE {where}",
                json.dumps(key),
            )
        )
        await conn.execute(
            f"DELETE FROM {table_name} AS t USING {record} AS r WHERE {where}",
            json.dumps(key),
        )
        written = await conn.fetch(
            "SELECT seq, operation, old_values::text AS old, new_values::text AS new,"
            " record_id::text AS record"
            " FROM audit_log WHERE user_id = $1 AND seq > $2 AND table_name = $3 ORDER BY seq",
            chain,
            before,
            table_name,
        )
        assert [entry["operation"] for entry in written] == ["INSERT", "UPDATE", "DELETE"]
        insert, update, delete = written
        assert (insert["old"], json.loads(insert["new"])) == (None, inserted)
        assert (json.loads(update["old"]), json.loads(update["new"])) == (inserted, updated)
        assert (json.loads(delete["old"]), delete["new"]) == (updated, None)
        assert {json.loads(entry["record"]) == key for entry in written} == {True}
