"""Database errors turned into agentkeep errors that name the input at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError

from agentkeep.errors import AgentkeepError, Conflict, Forbidden, InvalidInput, NotFound

_INVALID_VALUE_STATES = {
    "22001": "is too long",
    "22003": "is out of range",
    "22007": "is not a valid date or time",
    "22008": "is not a valid date or time",
    "22P02": "has an invalid format",
    "22023": "is invalid",
}


def postgres_error(exc: BaseException) -> asyncpg.PostgresError | None:
    if isinstance(exc, asyncpg.PostgresError):
        return exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig.__cause__
        if isinstance(cause, asyncpg.PostgresError):
            return cause
    return None


# PostgreSQL's messages name the violated constraint (or the null column) in double quotes.
_CONSTRAINT_IN_MESSAGE = re.compile(r'constraint "([^"]+)"')
_COLUMN_IN_MESSAGE = re.compile(r'null value in column "([^"]+)"')
# Citus names a shard's copy of a constraint ``<name>_<shard id>``, or, when that would pass 63
# characters, ``<name cut short>_<8 hex digits of a hash>_<shard id>``.
_SHARD_SUFFIX = re.compile(r"^(?P<name>.+)_\d+$")
_HASHED_NAME = re.compile(r"^(?P<name>.+)_[0-9a-f]{8}$")
# A monthly partition's copy of a key is named ``<parent constraint>_YYYY_MM``, the parent's name
# cut short if need be (agentkeep_name_partition_indexes, revision 0006).
_MONTH_SUFFIX = re.compile(r"^(?P<name>.+)_\d{4}_\d{2}$")


def _without(pattern: re.Pattern[str], name: str) -> str | None:
    found = pattern.match(name)
    return found["name"] if found else None


def _only_one_starting_with(prefix: str, constraint_fields: Mapping[str, str]) -> str | None:
    candidates = [key for key in constraint_fields if key.startswith(prefix)]
    return constraint_fields[candidates[0]] if len(candidates) == 1 else None


def _constraint_field(constraint: str, constraint_fields: Mapping[str, str]) -> str | None:
    shard_free = _without(_SHARD_SUFFIX, constraint)
    for name in (constraint, shard_free):
        if name is None:
            continue
        if name in constraint_fields:
            return constraint_fields[name]
        parent = _without(_MONTH_SUFFIX, name)
        if parent is not None:
            # Exactly the parent's name, or its head when the month did not fit after it.
            if parent in constraint_fields:
                return constraint_fields[parent]
            field = _only_one_starting_with(parent, constraint_fields)
            if field is not None:
                return field
    if shard_free is not None:
        hashed = _without(_HASHED_NAME, shard_free)
        if hashed is not None:
            return _only_one_starting_with(hashed, constraint_fields)
    return None


def _field(error: Any, constraint_fields: Mapping[str, str]) -> str | None:
    """The input field a violation names.

    PostgreSQL reports the constraint and column in fields of their own; Citus forwards only the
    SQLSTATE, message, detail and hint from a worker, where the message names the shard's copy
    of the constraint (``uq_agents_name_102008``): read it from there and drop the shard id.
    """
    column = getattr(error, "column_name", None)
    if column:
        return str(column)
    message = str(getattr(error, "message", None) or "")
    constraint = getattr(error, "constraint_name", None)
    if not constraint:
        named = _CONSTRAINT_IN_MESSAGE.search(message)
        constraint = named.group(1) if named else None
    if constraint:
        return _constraint_field(str(constraint), constraint_fields) or str(constraint)
    null_column = _COLUMN_IN_MESSAGE.search(message)
    return null_column.group(1) if null_column else None


def translate(exc: BaseException, constraint_fields: Mapping[str, str]) -> AgentkeepError | None:
    """The agentkeep error for a database error, or None when it is not the caller's fault.

    ``constraint_fields``: constraint name -> the input field it guards (DeclaredSchema).
    """
    error: Any = postgres_error(exc)
    if error is None:
        return None
    state = error.sqlstate
    field = _field(error, constraint_fields)
    if state == "23505":
        return Conflict(f"{field or 'value'} is already taken", field=field)
    if state == "23503":
        return NotFound(f"the referenced {field or 'row'} does not exist", field=field)
    if state == "23514":
        return InvalidInput(f"{field or 'value'} is not allowed: {error.message}", field=field)
    if state == "23502":
        return InvalidInput(f"{field} is required", field=field)
    if state == "42501":
        return Forbidden("this principal may not write that row")
    if state in _INVALID_VALUE_STATES:
        return InvalidInput(f"a value {_INVALID_VALUE_STATES[state]}: {error.message}", field=field)
    return None
