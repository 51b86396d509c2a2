"""SQL for messages, run on asyncpg directly: these are the hot paths (docs/benchmarks.md).

One source: every statement below is SQLAlchemy Core over the ``messages`` and ``conversations``
tables, compiled once, when this module is imported, by the asyncpg dialect into ``$n`` SQL
text. A call is one asyncpg ``fetch``/``fetchval`` of that text (asyncpg prepares it once per
connection); SQLAlchemy does nothing at run time. The select list is the fields of
:class:`~agentkeep.messages.models.Message` in their order (a row unpacks straight into it), the
insert list is the fields of :class:`NewMessage` plus the keys, and the JSON columns are the
table's JSON-typed ones. ``tests/test_message_sql.py`` ties all of them to the table, so a column
added to ``messages`` fails that test until ``Message`` carries it.

Takes the transaction's asyncpg connection (``Database.driver_transaction``); never commits. JSON
goes in as JSON text and comes back as JSON text: the driver pool's connections keep asyncpg's
built-in json/jsonb codecs, which pass text through, and :func:`_messages` decodes it (cheaper
than a Python codec called for every value, docs/benchmarks.md).

Reads join the conversation, so a soft-deleted conversation's messages are unreachable by every
path, and a missing conversation is told apart from an empty one in the same round trip. Every
part of every statement filters ``user_id = $1``: on Citus each is routed to the user's shard.
"""

from __future__ import annotations

import dataclasses
import operator
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.compiler import SQLCompiler

from agentkeep.conversations.tables import conversations
from agentkeep.database.jsonb import dumps, loads
from agentkeep.messages.models import Message, NewMessage
from agentkeep.messages.tables import messages

MESSAGE_FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(Message))
# Columns a Message leaves out: bookkeeping, and deleted_at is always NULL in what reads return.
NOT_READ = frozenset({"updated_at", "deleted_at"})
# The select list: Message's fields, in order (a field that is not a column fails right here).
READ_COLUMNS: tuple[sa.Column[Any], ...] = tuple(messages.c[name] for name in MESSAGE_FIELDS)
JSON_FIELDS = frozenset(column.name for column in READ_COLUMNS if isinstance(column.type, sa.JSON))
# What a caller sets: the fields of NewMessage that Message stores, in Message's order.
NEW_FIELDS: tuple[str, ...] = tuple(name for name in MESSAGE_FIELDS if name in NewMessage.model_fields)
INSERTED: tuple[str, ...] = ("user_id", "conversation_id", "id", *NEW_FIELDS)


def _empty_object_is_default(column: sa.Column[Any]) -> bool:
    """A NOT NULL JSON column defaulting to ``{}``: a batch sends its empty objects as NULL."""
    default = column.server_default
    return (
        column.name in JSON_FIELDS
        and not column.nullable
        and isinstance(default, sa.DefaultClause)
        and str(default.arg) == "'{}'::jsonb"
    )


_DEFAULTED_JSON = frozenset(name for name in NEW_FIELDS if _empty_object_is_default(messages.c[name]))


_DIALECT: sa.Dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped


class Statement:
    """SQL text compiled from a Core statement, and the order of its ``$n`` parameters.

    ``params`` names the parameters in the order the call site passes them. For a statement
    built ``in_order``, the compiler must number them the same way (checked here, at import, so
    a change that moves a parameter fails at once instead of binding the wrong value); for
    another, :meth:`args` puts the call site's values in the compiler's order.
    """

    __slots__ = ("_order", "params", "sql")

    def __init__(self, statement: sa.ClauseElement, params: Sequence[str], *, in_order: bool = True) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        numbered = tuple(compiled.positiontup or ())
        if sorted(numbered) != sorted(params) or (in_order and numbered != tuple(params)):
            raise AssertionError(f"parameters are {numbered}, not {tuple(params)}:\n{compiled.string}")
        self.sql: str = compiled.string
        self.params: tuple[str, ...] = tuple(params)
        self._order = tuple(self.params.index(name) for name in numbered)

    def placeholder(self, name: str) -> str:
        """The ``$n`` that stands for the parameter ``name`` in :attr:`sql`."""
        return f"${self._order.index(self.params.index(name)) + 1}"

    def args(self, values: Sequence[Any]) -> list[Any]:
        """``values`` (in the order of ``params``) in the order of the ``$n`` parameters."""
        return [values[i] for i in self._order]


def _param(name: str, type_: Any = None) -> sa.BindParameter[Any]:
    return sa.bindparam(name, type_=messages.c[name].type if type_ is None else type_)


_user_id = _param("user_id")
_conversation_id = _param("conversation_id")
_message_id = _param("id")
_limit = sa.bindparam("limit", type_=sa.Integer)
_cursor = sa.bindparam("cursor", type_=pg.UUID(as_uuid=True))


def _live_conversation() -> sa.ColumnElement[bool]:
    """The conversation named by the parameters is the user's and not deleted."""
    return sa.and_(
        conversations.c.user_id == _user_id,
        conversations.c.id == _conversation_id,
        conversations.c.deleted_at.is_(None),
    )


def _add_tokens(tokens: sa.ColumnElement[Any]) -> sa.CTE:
    """Add ``tokens`` to the live conversation's ``tokens_used``, unless it is NULL.

    Part of the insert's own statement, so no extra round trip; the conversation row is
    touched only when some message carries a count. ``version`` stays: it guards what callers
    edit, and a counter moving must not make their next edit stale.
    """
    return (
        sa.update(conversations)
        .where(_live_conversation(), tokens.is_not(None))
        .values(tokens_used=conversations.c.tokens_used + tokens)
        .cte("usage")
    )


def _or_default(name: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An empty JSON object is sent as NULL (cheaper to encode) and stored as the default."""
    default = messages.c[name].server_default
    if name in _DEFAULTED_JSON and isinstance(default, sa.DefaultClause):
        return sa.func.coalesce(value, default.arg)
    return value


def _insert_one() -> Statement:
    # Selecting from the live conversation makes appending to a missing or deleted one insert
    # nothing, in the same round trip as the insert.
    token_count = _param("token_count")
    values = [
        _user_id,
        conversations.c.id,
        _message_id,
        *(token_count if n == "token_count" else _or_default(n, _param(n)) for n in NEW_FIELDS),
    ]
    statement = (
        sa.insert(messages)
        .from_select(list(INSERTED), sa.select(*values).where(_live_conversation()))
        .returning(messages.c.created_at)
        .add_cte(_add_tokens(token_count))
    )
    return Statement(statement, INSERTED, in_order=False)


def _insert_many() -> Statement:
    # Arrays in, one statement: PostgreSQL refuses COPY FROM on tables under row-level security.
    # unnest pads a shorter array with NULLs, and a NULL array counts as empty: a column that is
    # NULL in every message of the batch is sent as one NULL instead of an array of them.
    per_message = ("id", *NEW_FIELDS)
    arrays = {name: sa.bindparam(name, type_=pg.ARRAY(messages.c[name].type)) for name in per_message}
    batch = sa.func.unnest(*arrays.values()).table_valued(*per_message).render_derived(name="batch")
    values = [_user_id, conversations.c.id, *(_or_default(name, batch.c[name]) for name in per_message)]
    inserted = (
        sa.insert(messages)
        .from_select(
            list(INSERTED),
            sa.select(*values).select_from(conversations).join(batch, sa.true()).where(_live_conversation()),
        )
        .returning(messages.c.created_at)
        .cte("inserted")
    )
    counts = sa.func.unnest(arrays["token_count"]).table_valued("count").render_derived(name="counts")
    tokens = sa.select(sa.func.sum(counts.c["count"]).label("total")).subquery("tokens").c.total
    # Every row of one statement has the same created_at (the transaction's start); it is read
    # from the rows, as Citus refuses now() in what a distributed insert returns.
    statement = sa.select(
        sa.func.count().label("inserted"), sa.func.min(inserted.c.created_at).label("created_at")
    ).add_cte(_add_tokens(tokens))
    return Statement(statement, ("user_id", "conversation_id", *per_message), in_order=False)


def _conversation_is_live_now() -> sa.ColumnElement[bool]:
    return (
        sa.select(conversations.c.deleted_at.is_(None))
        .where(conversations.c.user_id == _user_id, conversations.c.id == _conversation_id)
        .scalar_subquery()
    )


def _not_blocked() -> sa.ColumnElement[bool]:
    """The message was not blocked by an ethical validation (its ``ethical_validation`` says
    ``"overall": "blocked"``, revision 0013, docs/consent.md). A filter on the rows the index
    scan fetches anyway: the latest N stays one backward scan of the conversation's index.
    Constants, not parameters: the statement's parameters stay those of the latest N."""
    return sa.literal_column(
        "(messages.ethical_validation ->> 'overall') IS DISTINCT FROM 'blocked'", sa.Boolean()
    )


def _page(*, newest_first: bool, from_cursor: bool, without_blocked: bool = False) -> Statement:
    """Up to ``limit`` messages of a live conversation of the user; none when it is missing,
    deleted or someone else's. ``without_blocked`` leaves out blocked messages (the context).

    The conversation is checked once per query (an InitPlan, before the index scan), as a
    scalar subquery: NULL when missing, false when deleted. PostgreSQL plans these statements
    afresh on every call (custom plans: the LIMIT is a parameter), and this form cost less to
    plan than EXISTS or a join (measured: about 16 us of planning instead of 26 and 30).
    """
    where = [
        messages.c.user_id == _user_id,
        messages.c.conversation_id == _conversation_id,
        messages.c.deleted_at.is_(None),
    ]
    if from_cursor:
        where.append(messages.c.id < _cursor if newest_first else messages.c.id > _cursor)
    if without_blocked:
        where.append(_not_blocked())
    order = messages.c.id.desc() if newest_first else messages.c.id.asc()
    statement = (
        sa.select(*READ_COLUMNS).where(*where, _conversation_is_live_now()).order_by(order).limit(_limit)
    )
    cursor = ("cursor",) if from_cursor else ()
    return Statement(statement, ("user_id", "conversation_id", *cursor, "limit"))


def _conversation_is_live() -> Statement:
    return Statement(sa.select(sa.exists().where(_live_conversation())), ("user_id", "conversation_id"))


def _in_live_conversation() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        conversations.c.user_id == _user_id,
        conversations.c.id == messages.c.conversation_id,
        conversations.c.deleted_at.is_(None),
    )


def _get() -> Statement:
    statement = sa.select(*READ_COLUMNS).where(
        messages.c.user_id == _user_id,
        messages.c.id == _message_id,
        messages.c.deleted_at.is_(None),
        _in_live_conversation(),
    )
    return Statement(statement, ("user_id", "id"))


def _thread() -> Statement:
    """The path from the root to the message, then every reply below it, oldest first.

    A reply is always in its parent's conversation (the parent key says so), so the whole
    thread is in the anchor's conversation, which must be live. Deleted messages are left out
    but walked through: their replies are live messages of a live conversation.
    """
    walked = [*READ_COLUMNS, messages.c.deleted_at]
    ancestors = (
        sa.select(*walked)
        .where(messages.c.user_id == _user_id, messages.c.id == _message_id, messages.c.deleted_at.is_(None))
        .where(_in_live_conversation())
        .cte("ancestors", recursive=True)
    )
    parent = messages.alias("parent")
    ancestors = ancestors.union_all(
        sa.select(*(parent.c[column.name] for column in walked)).join(
            ancestors,
            sa.and_(
                parent.c.user_id == _user_id,
                parent.c.conversation_id == ancestors.c.conversation_id,
                parent.c.id == ancestors.c.parent_message_id,
            ),
        )
    )
    child = messages.alias("child")
    descendants = (
        sa.select(*(child.c[column.name] for column in walked))
        .join(
            ancestors,
            sa.and_(
                child.c.user_id == _user_id,
                child.c.conversation_id == ancestors.c.conversation_id,
                child.c.parent_message_id == ancestors.c.id,
            ),
        )
        .where(ancestors.c.id == _message_id)
        .cte("descendants", recursive=True)
    )
    reply = messages.alias("reply")
    descendants = descendants.union_all(
        sa.select(*(reply.c[column.name] for column in walked)).join(
            descendants,
            sa.and_(
                reply.c.user_id == _user_id,
                reply.c.conversation_id == descendants.c.conversation_id,
                reply.c.parent_message_id == descendants.c.id,
            ),
        )
    )
    thread = sa.union(sa.select(ancestors), sa.select(descendants)).subquery("thread")
    statement = (
        sa.select(*(thread.c[name] for name in MESSAGE_FIELDS))
        .where(thread.c.user_id == _user_id, thread.c.deleted_at.is_(None))
        .order_by(thread.c.id)
        .limit(_limit)
    )
    return Statement(statement, ("user_id", "id", "limit"))


def _soft_delete() -> Statement:
    statement = (
        sa.update(messages)
        .where(
            messages.c.user_id == _user_id,
            messages.c.id == _message_id,
            messages.c.deleted_at.is_(None),
            _in_live_conversation(),
        )
        .values(deleted_at=sa.func.now())
        .returning(messages.c.id)
    )
    return Statement(statement, ("user_id", "id"))


INSERT_ONE = _insert_one()
INSERT_MANY = _insert_many()
LATEST = _page(newest_first=True, from_cursor=False)
LATEST_CONTEXT = _page(newest_first=True, from_cursor=False, without_blocked=True)
BEFORE = _page(newest_first=True, from_cursor=True)
FIRST = _page(newest_first=False, from_cursor=False)
AFTER = _page(newest_first=False, from_cursor=True)
CONVERSATION_IS_LIVE = _conversation_is_live()
GET = _get()
THREAD = _thread()
SOFT_DELETE = _soft_delete()


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _json_or_default(value: Any) -> str | None:
    return None if value is None or value == {} else dumps(value)


def _encoder(name: str) -> Callable[[Any], Any] | None:
    if name in _DEFAULTED_JSON:
        return _json_or_default
    if name in JSON_FIELDS:
        return _json
    return None


# Per field of NEW_FIELDS: how its value is sent (None: as it is).
_ENCODERS = tuple(_encoder(name) for name in NEW_FIELDS)
_JSON_INPUTS = tuple((i, encode) for i, encode in enumerate(_ENCODERS) if encode is not None)
# One C call reads every field a caller sets, in NEW_FIELDS order.
_given = operator.attrgetter(*NEW_FIELDS)
_POSITIONAL_LAYOUT = ("id", "user_id", "conversation_id", *NEW_FIELDS, "created_at")
if _POSITIONAL_LAYOUT != MESSAGE_FIELDS:
    # stored() builds a Message positionally from the keys, the input and created_at.
    raise AssertionError(
        f"Message's fields must be the keys, NewMessage's fields, created_at: {MESSAGE_FIELDS}"
    )


def _compile_decoder(json_fields: Sequence[str]) -> Callable[[Sequence[asyncpg.Record]], list[Message]]:
    """The function that turns rows of the select list into Messages, decoding the JSON text.

    Generated from the JSON columns, so it follows the table, and written out as straight-line
    attribute code: a loop over the field names (getattr/setattr, or copying each row to a list)
    cost about twice as much per row, measured on the latest 50. The empty object (the usual
    metadata) is not handed to the parser.
    """
    lines = ["def decode(rows):", "    found = [Message(*row) for row in rows]", "    for message in found:"]
    for name in json_fields:
        if not name.isidentifier():
            raise ValueError(f"not a plain column name: {name!r}")
        lines += [
            f"        text = message.{name}",
            "        if text is not None:",
            f"            message.{name} = {{}} if text == '{{}}' else loads(text)",
        ]
    lines.append("    return found")
    namespace: dict[str, Any] = {"Message": Message, "loads": loads}
    exec("\n".join(lines), namespace)  # noqa: S102 - our own column names, checked above
    decode: Callable[[Sequence[asyncpg.Record]], list[Message]] = namespace["decode"]
    return decode


_messages = _compile_decoder([column.name for column in READ_COLUMNS if column.name in JSON_FIELDS])


def stored(
    user_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID, m: NewMessage, created_at: datetime
) -> Message:
    """The Message that inserting ``m`` stored, built from the input (no read back)."""
    values: tuple[Any, ...] = (message_id, user_id, conversation_id, *_given(m), created_at)
    return Message(*values)


def _encoded(m: NewMessage) -> list[Any]:
    values = list(_given(m))
    for i, encode in _JSON_INPUTS:
        values[i] = encode(values[i])
    return values


async def insert_one(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    m: NewMessage,
) -> datetime | None:
    """Insert one message; its created_at, or None if the conversation is not there."""
    args = INSERT_ONE.args([user_id, conversation_id, message_id, *_encoded(m)])
    created_at: datetime | None = await driver.fetchval(INSERT_ONE.sql, *args)
    return created_at


def _column(values: list[Any]) -> list[Any] | None:
    """An array for INSERT_MANY, or None when every value is NULL: asyncpg checks and encodes
    each element of an array, and most columns of most batches are all NULL."""
    for value in values:
        if value is not None:
            return values
    return None


async def insert_many(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    batch: Sequence[NewMessage],
) -> tuple[int, datetime | None]:
    """Insert a batch; how many went in (0: the conversation is not there) and their created_at."""
    columns = zip(*map(_given, batch), strict=True)  # one tuple per field, across the batch
    arrays = [
        _column(list(values) if encode is None else [encode(value) for value in values])
        for values, encode in zip(columns, _ENCODERS, strict=True)
    ]
    args = INSERT_MANY.args([user_id, conversation_id, list(ids), *arrays])
    row = await driver.fetchrow(INSERT_MANY.sql, *args)
    assert row is not None
    return row["inserted"], row["created_at"]


async def _page_or_none(
    driver: asyncpg.Connection[Any],
    rows: list[asyncpg.Record],
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
) -> list[Message] | None:
    """The messages, or None when the conversation is not there for this user.

    Only an empty page asks again (a second round trip, in the same transaction) whether the
    conversation is there: answering that in the page's own statement too cost every page a
    join and a sort (measured, see the report of issue 5), and empty pages are rare.
    """
    if rows:
        return _messages(rows)
    live = await driver.fetchval(CONVERSATION_IS_LIVE.sql, user_id, conversation_id)
    return [] if live else None


async def latest(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    limit: int,
    *,
    include_blocked: bool = True,
) -> list[Message] | None:
    """Newest first; None when the conversation is missing, deleted or not the user's.
    ``include_blocked=False``: without the messages an ethical validation blocked."""
    statement = LATEST if include_blocked else LATEST_CONTEXT
    rows = await driver.fetch(statement.sql, user_id, conversation_id, limit)
    return await _page_or_none(driver, rows, user_id, conversation_id)


async def before(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    cursor: uuid.UUID,
    limit: int,
) -> list[Message] | None:
    """Newest first, strictly older than ``cursor``; None as for :func:`latest`."""
    rows = await driver.fetch(BEFORE.sql, user_id, conversation_id, cursor, limit)
    return await _page_or_none(driver, rows, user_id, conversation_id)


async def after(
    driver: asyncpg.Connection[Any],
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    cursor: uuid.UUID | None,
    limit: int,
) -> list[Message] | None:
    """Oldest first, strictly newer than ``cursor`` (from the start when None)."""
    if cursor is None:
        rows = await driver.fetch(FIRST.sql, user_id, conversation_id, limit)
    else:
        rows = await driver.fetch(AFTER.sql, user_id, conversation_id, cursor, limit)
    return await _page_or_none(driver, rows, user_id, conversation_id)


async def get(driver: asyncpg.Connection[Any], user_id: uuid.UUID, message_id: uuid.UUID) -> Message | None:
    row = await driver.fetchrow(GET.sql, user_id, message_id)
    return None if row is None else _messages([row])[0]


async def thread(
    driver: asyncpg.Connection[Any], user_id: uuid.UUID, message_id: uuid.UUID, limit: int
) -> list[Message]:
    return _messages(await driver.fetch(THREAD.sql, user_id, message_id, limit))


async def soft_delete(driver: asyncpg.Connection[Any], user_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    return await driver.fetchval(SOFT_DELETE.sql, user_id, message_id) is not None
