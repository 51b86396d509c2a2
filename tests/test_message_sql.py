"""The message hot path has one source: the ``messages`` table.

The select list, the insert lists, the JSON decoding and the ``Message`` dataclass are all tied to
the table here, so a column added to the table without the code following fails this module.
Also checked: the role and type constants are the table's CHECKs and the models' Literals, and
the statements keep to what Citus can route (user_id = $1 everywhere, no now() returned).
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.engine import Database
from agentkeep.messages import repository
from agentkeep.messages.models import Message, NewMessage
from agentkeep.messages.tables import MESSAGE_TYPES, ROLES, MessageType, Role, messages
from agentkeep.principal import Principal

STATEMENTS = {
    name: value for name, value in vars(repository).items() if isinstance(value, repository.Statement)
}
# Columns the database fills (never sent by an insert).
SERVER_SET = {"created_at", "updated_at", "deleted_at"}


def layout_problems(table: sa.Table, message: type[Any], new_message: type[Any]) -> list[str]:
    """What does not line up between the table, the stored dataclass and the input model."""
    columns = {column.name for column in table.c}
    fields = [field.name for field in dataclasses.fields(message)]
    problems = [f"Message.{name} is not a column" for name in fields if name not in columns]
    problems += [
        f"column {name} is neither a Message field nor in repository.NOT_READ"
        for name in sorted(columns - set(fields) - repository.NOT_READ)
    ]
    problems += [
        f"NewMessage.{name} is not a Message field (it would never be stored)"
        for name in new_message.model_fields
        if name not in fields
    ]
    sent = {"user_id", "conversation_id", "id", *new_message.model_fields}
    problems += [
        f"column {column.name} is NOT NULL without a default, and no insert sends it"
        for column in table.c
        if column.name not in sent and not column.nullable and column.server_default is None
    ]
    return problems


def test_the_dataclass_the_input_model_and_the_table_line_up() -> None:
    assert layout_problems(messages, Message, NewMessage) == []
    assert repository.NOT_READ <= SERVER_SET


def test_a_column_added_to_the_table_alone_is_caught() -> None:
    widened = messages.to_metadata(sa.MetaData())
    widened.append_column(sa.Column("sentiment", sa.Text))
    assert layout_problems(widened, Message, NewMessage) == [
        "column sentiment is neither a Message field nor in repository.NOT_READ"
    ]
    required = messages.to_metadata(sa.MetaData())
    required.append_column(sa.Column("channel", sa.Text, nullable=False))
    assert "column channel is NOT NULL without a default, and no insert sends it" in layout_problems(
        required, Message, NewMessage
    )


def test_the_select_list_is_the_dataclass_in_order() -> None:
    assert [column.name for column in repository.READ_COLUMNS] == [
        field.name for field in dataclasses.fields(Message)
    ]
    # What each read really returns is checked on the server below.


def test_the_inserts_send_every_field_of_the_input() -> None:
    expected = [
        "user_id",
        "conversation_id",
        "id",
        *[n for n in repository.MESSAGE_FIELDS if n in NewMessage.model_fields],
    ]
    assert list(repository.INSERTED) == expected
    assert set(repository.INSERTED) == {"user_id", "conversation_id", "id", *NewMessage.model_fields}
    for name in ("INSERT_ONE", "INSERT_MANY"):
        listed = re.search(r"INSERT INTO messages \(([^)]*)\)", STATEMENTS[name].sql)
        assert listed is not None
        assert listed.group(1).split(", ") == expected


def test_the_json_columns_are_the_tables_json_columns() -> None:
    jsonb = {column.name for column in messages.c if isinstance(column.type, pg.JSONB)}
    assert jsonb - repository.NOT_READ == repository.JSON_FIELDS
    assert sorted(repository.JSON_FIELDS) == ["ethical_validation", "metadata", "reasoning_trace"]


def test_each_statement_numbers_its_parameters_as_its_call_site_passes_them() -> None:
    for name, statement in STATEMENTS.items():
        numbers = {int(n) for n in re.findall(r"\$(\d+)", statement.sql)}
        assert numbers == set(range(1, len(statement.params) + 1)), name
        assert statement.params[0] == "user_id", name


async def test_the_server_accepts_every_statement_and_returns_the_dataclass(database: Database) -> None:
    """Prepared on the real schema: valid SQL, and each read returns Message's fields in order."""
    fields = [field.name for field in dataclasses.fields(Message)]
    async with database.driver_transaction(Principal.service()) as tx:
        for name, statement in STATEMENTS.items():
            prepared = await tx.driver.prepare(statement.sql)
            returned = [attribute.name for attribute in prepared.get_attributes()]
            if name in {"LATEST", "BEFORE", "FIRST", "AFTER", "GET", "THREAD"}:
                assert returned == fields, name


async def test_driver_connections_use_generic_plans_except_on_citus(database: Database) -> None:
    """Every driver connection, the first and the ones opened after it: force_generic_plan on
    plain PostgreSQL, the server's own mode on Citus (whose planner cannot route a generic plan
    of a statement with a subquery, and tells PostgreSQL to use custom plans instead)."""
    async with (
        database.driver_transaction(Principal.service()) as first,
        database.driver_transaction(Principal.service()) as second,
    ):
        assert first.driver is not second.driver
        has_citus = await first.driver.fetchval(
            "SELECT count(*) > 0 FROM pg_extension WHERE extname = 'citus'"
        )
        expected = "auto" if has_citus else "force_generic_plan"
        for tx in (first, second):
            assert await tx.driver.fetchval("SHOW plan_cache_mode") == expected


def test_citus_can_route_every_statement() -> None:
    """Every part reading or writing a table names user_id = $1 (Citus refuses a recursive CTE
    without it in each term), and nothing returns now() (refused on distributed tables)."""
    for name, statement in STATEMENTS.items():
        sql = statement.sql
        user_id = f"user_id = {statement.placeholder('user_id')}::UUID"
        for term in re.split(r"\bUNION ALL\b|\bUNION\b|\bWITH\b|\bINSERT INTO\b|\bEXISTS\b", sql):
            if re.search(r"\b(FROM|UPDATE|JOIN) (messages|conversations)\b", term):
                assert user_id in term, (name, term)
        for returning in re.findall(r"RETURNING (.*)", sql):
            assert "now()" not in returning.lower(), (name, returning)
    # the anchor, its conversation, both recursive terms, the first replies and the outer query
    assert STATEMENTS["THREAD"].sql.count("user_id = $1::UUID") == 6


def test_roles_and_types_are_defined_once() -> None:
    assert typing.get_args(Role) == ROLES == ("user", "assistant", "system", "tool")
    assert typing.get_args(MessageType) == MESSAGE_TYPES
    checks = {
        constraint.name: str(constraint.sqltext)
        for constraint in messages.constraints
        if isinstance(constraint, sa.CheckConstraint)
    }
    assert checks["ck_messages_role_valid"] == f"role IN ({', '.join(repr(r) for r in ROLES)})"
    assert (
        checks["ck_messages_message_type_valid"]
        == f"message_type IN ({', '.join(repr(t) for t in MESSAGE_TYPES)})"
    )
    for role in ROLES:
        assert NewMessage(role=role, content="x").role == role
    for message_type in MESSAGE_TYPES:
        assert NewMessage(role="user", content="x", message_type=message_type).message_type == message_type
    with pytest.raises(ValidationError):
        NewMessage(role="wizard", content="x")  # type: ignore[arg-type]
