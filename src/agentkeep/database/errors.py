"""Database errors turned into agentkeep errors that name the input at fault."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError

from agentkeep.database.metadata import metadata
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


def _field(table_name: str | None, constraint_name: str | None, column_name: str | None) -> str | None:
    """The column a constraint guards, from the naming convention in database.metadata."""
    if column_name:
        return str(column_name)
    if not table_name or not constraint_name:
        return None
    table = metadata.tables.get(table_name)
    if table is None:
        return None
    for constraint in table.constraints:
        if constraint.name == constraint_name:
            # user_id leads every composite key; the column after it is the one the caller chose.
            names = [c.name for c in getattr(constraint, "columns", [])]
            columns = [name for name in names if name != "user_id"] or names
            if columns:
                return str(columns[-1])
    for prefix in (f"ck_{table_name}_", f"uq_{table_name}_", f"{table_name}_"):
        if constraint_name.startswith(prefix):
            rest = constraint_name[len(prefix) :]
            names = sorted((c.name for c in table.columns), key=len, reverse=True)
            return next((name for name in names if rest.startswith(name)), rest)
    return constraint_name


def translate(exc: BaseException) -> AgentkeepError | None:
    """The agentkeep error for a database error, or None when it is not the caller's fault."""
    error: Any = postgres_error(exc)
    if error is None:
        return None
    state = error.sqlstate
    table = getattr(error, "table_name", None)
    field = _field(table, getattr(error, "constraint_name", None), getattr(error, "column_name", None))
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
