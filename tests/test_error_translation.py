"""Database errors become agentkeep errors naming the input field, on PostgreSQL and on Citus.

Plain PostgreSQL reports the violated constraint in a field of its own; Citus forwards a worker's
SQLSTATE, message, detail and hint only, and the message names the shard's copy of the
constraint (``uq_agents_name_102008``). Each real violation below is raised by the embedded
server, then re-made in the shape Citus forwards, and both must name the same field.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest

from agentkeep.activities.tables import RULE_FIELDS as ACTIVITY_RULE_FIELDS
from agentkeep.database.engine import principal_settings
from agentkeep.database.errors import translate
from agentkeep.database.metadata import vocabulary_check_name, vocabulary_columns
from agentkeep.errors import Conflict, InvalidInput, NotFound
from agentkeep.governance.tables import RULE_FIELDS as GOVERNANCE_RULE_FIELDS
from agentkeep.ids import new_id
from agentkeep.principal import Principal
from agentkeep.schema import SCHEMA

FIELDS = SCHEMA.constraint_fields
SHARD_ID = 102008
NAMEDATALEN = 64

AsApp = Callable[[Principal | None], AbstractAsyncContextManager[asyncpg.Connection]]


def _shard_name(name: str) -> str:
    """Citus's name for a shard's copy of ``name`` (AppendShardIdToName in Citus)."""
    suffix = f"_{SHARD_ID}"
    if len(name) + len(suffix) < NAMEDATALEN:
        return name + suffix
    cut = NAMEDATALEN - 1 - len(suffix) - len("_12345678")
    return f"{name[:cut]}_{zlib.crc32(name.encode()):08x}{suffix}"


def _as_citus_forwards(error: asyncpg.PostgresError) -> asyncpg.PostgresError:
    """The same error as the coordinator hands it on: no constraint, table or column fields,
    and shard names in the message."""
    message = error.message
    for name in (error.constraint_name, error.table_name):
        if name:
            message = message.replace(f'"{name}"', f'"{_shard_name(name)}"')
    fields = {"S": "ERROR", "C": error.sqlstate, "M": message}
    if error.detail:
        fields["D"] = error.detail
    forwarded = asyncpg.PostgresError.new(fields)
    assert type(forwarded) is type(error)
    assert (forwarded.constraint_name, forwarded.table_name, forwarded.column_name) == (None, None, None)
    return forwarded


async def _violation(
    as_app: AsApp, principal: Principal, *statements: tuple[Any, ...]
) -> asyncpg.PostgresError:
    async with as_app(principal) as conn:
        try:
            for statement, *args in statements:
                await conn.execute(statement, *args)
        except asyncpg.PostgresError as error:
            return error
    raise AssertionError("no statement was refused")


async def _assert_both_shapes_name(
    error: asyncpg.PostgresError, kind: type[Exception], field: str
) -> asyncpg.PostgresError:
    citus = _as_citus_forwards(error)
    for shape in (error, citus):
        translated = translate(shape, FIELDS)
        assert isinstance(translated, kind), (shape.message, translated)
        assert translated.field == field, (shape.message, translated.field)
    return citus


async def test_unique_violation_names_the_field(as_app: AsApp) -> None:
    name = f"agent-{uuid.uuid4().hex[:8]}"
    insert = "INSERT INTO agents (id, name, persona_type) VALUES (gen_random_uuid(), $1, 'assistant')"
    error = await _violation(as_app, Principal.service(), (insert, name), (insert, name))
    assert error.constraint_name == "uq_agents_name"
    citus = await _assert_both_shapes_name(error, Conflict, "name")
    assert f'"uq_agents_name_{SHARD_ID}"' in citus.message


async def test_a_taken_handle_names_the_field(as_app: AsApp) -> None:
    """E-mail uniqueness is the primary key of user_emails (0002): a taken address is `email`."""
    first, second = uuid.uuid4(), uuid.uuid4()
    email = f"same-{uuid.uuid4().hex[:8]}@example.com"
    insert = "INSERT INTO user_emails (email, user_id) VALUES (lower($1), $2)"
    async with as_app(Principal.service(first)) as conn:
        await conn.execute(insert, email, first)
        for statement in principal_settings(Principal.service(second)):
            await conn.execute(statement)
        with pytest.raises(asyncpg.UniqueViolationError) as refused:
            await conn.execute(insert, email.upper(), second)
    assert refused.value.constraint_name == "pk_user_emails"
    await _assert_both_shapes_name(refused.value, Conflict, "email")


async def test_check_violation_names_the_field(as_app: AsApp) -> None:
    user_id = uuid.uuid4()
    error = await _violation(
        as_app,
        Principal.service(user_id),
        ("INSERT INTO users (user_id, email) VALUES ($1, 'not-an-address')", user_id),
    )
    assert error.constraint_name == "ck_users_email_format"
    await _assert_both_shapes_name(error, InvalidInput, "email")


async def test_foreign_key_violation_names_the_field(as_app: AsApp) -> None:
    user_id = uuid.uuid4()
    error = await _violation(
        as_app,
        Principal.service(user_id),
        ("INSERT INTO users (user_id, email) VALUES ($1, 'fk@example.com')", user_id),
        (
            "INSERT INTO conversations (user_id, id, agent_id) VALUES ($1, $2, $3)",
            user_id,
            uuid.uuid4(),
            uuid.uuid4(),
        ),
    )
    assert error.sqlstate == "23503"
    await _assert_both_shapes_name(error, NotFound, "agent_id")


async def test_long_constraint_names_cut_short_by_citus_are_found() -> None:
    name = "fk_messages_user_id_conversation_id_parent_message_id_messages"
    forwarded = asyncpg.PostgresError.new(
        {
            "S": "ERROR",
            "C": "23503",
            "M": f'insert or update on table "messages_{SHARD_ID}" violates foreign key constraint'
            f' "{_shard_name(name)}"',
        }
    )
    assert _shard_name(name) != f"{name}_{SHARD_ID}"
    translated = translate(forwarded, FIELDS)
    assert isinstance(translated, NotFound)
    assert translated.field == "parent_message_id"


async def test_a_partitions_copy_of_a_key_names_the_field(as_app: AsApp) -> None:
    """messages is partitioned by month (revision 0006): a duplicate id violates the month's copy
    of pk_messages, named pk_messages_YYYY_MM so that the field is still found."""
    user_id, conversation_id, message_id = uuid.uuid4(), uuid.uuid4(), new_id()
    insert_message = (
        "INSERT INTO messages (user_id, id, conversation_id, role, content) VALUES ($1, $2, $3, 'user', 'x')"
    )
    error = await _violation(
        as_app,
        Principal.service(user_id),
        ("INSERT INTO users (user_id, email) VALUES ($1, 'partition@example.com')", user_id),
        ("INSERT INTO conversations (user_id, id) VALUES ($1, $2)", user_id, conversation_id),
        (insert_message, user_id, message_id, conversation_id),
        (insert_message, user_id, message_id, conversation_id),
    )
    assert re.fullmatch(r"pk_messages_\d{4}_\d{2}", error.constraint_name or ""), error.constraint_name
    await _assert_both_shapes_name(error, Conflict, "id")


def _partition_copy_name(name: str, month: str = "_2026_11") -> str:
    """agentkeep_name_partition_indexes's name for a monthly partition's copy of ``name``."""
    return name[: NAMEDATALEN - 1 - len(month)] + month


@pytest.mark.parametrize("name", sorted(name for name in FIELDS if name.startswith(("pk_", "uq_"))))
def test_every_key_of_a_partition_names_its_parents_field(name: str) -> None:
    for copy in (_partition_copy_name(name), _shard_name(_partition_copy_name(name))):
        forwarded = asyncpg.PostgresError.new(
            {"S": "ERROR", "C": "23505", "M": f'duplicate key value violates unique constraint "{copy}"'}
        )
        translated = translate(forwarded, FIELDS)
        assert isinstance(translated, Conflict)
        assert translated.field == FIELDS[name], copy


async def test_not_null_violation_names_the_column(as_app: AsApp) -> None:
    user_id = uuid.uuid4()
    error = await _violation(
        as_app, Principal.service(user_id), ("INSERT INTO users (user_id, email) VALUES ($1, NULL)", user_id)
    )
    assert error.column_name == "email"
    await _assert_both_shapes_name(error, InvalidInput, "email")


@pytest.mark.parametrize("name", ["uq_agents_name", "ck_messages_role_valid", "pk_users"])
def test_a_name_without_a_shard_suffix_is_not_cut(name: str) -> None:
    forwarded = asyncpg.PostgresError.new(
        {"S": "ERROR", "C": "23505", "M": f'duplicate key value violates unique constraint "{name}"'}
    )
    translated = translate(forwarded, FIELDS)
    assert translated is not None
    assert translated.field == FIELDS[name]


async def test_the_map_names_every_constraint_and_unique_index_of_the_migrated_schema(owner: Any) -> None:
    live = {
        row["name"]
        for row in await owner.fetch(
            """
            SELECT conname AS name FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f', 'c')
              AND conparentid = 0
            UNION
            SELECT indexname FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
            JOIN pg_index x ON x.indexrelid = c.oid
            WHERE i.schemaname = 'public' AND x.indisunique AND i.tablename <> 'alembic_version'
              AND NOT c.relispartition  -- a partition's copy of its table's index
            """
        )
    } - {"alembic_version_pkc"}
    # The vocabulary triggers (0004) raise check violations that name a constraint of their own.
    vocabulary_checks = {
        vocabulary_check_name(table, column) for table, column, _ in vocabulary_columns(SCHEMA.metadata)
    }
    # The governance gates (0012) raise check violations that name their rule as a constraint.
    # So do the rule triggers of revision 0013 (agent activities, consent tiers).
    assert set(FIELDS) == live | vocabulary_checks | set(ACTIVITY_RULE_FIELDS) | set(GOVERNANCE_RULE_FIELDS)
    table_columns = {column.name for table in SCHEMA.metadata.tables.values() for column in table.columns}
    named_by_rule = {name for name, field in FIELDS.items() if field not in table_columns}
    # Check constraints over several columns are named for the rule they keep, not one column.
    assert all(name.startswith("ck_") for name in named_by_rule), named_by_rule
