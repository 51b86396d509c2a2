"""audit speed: inserts audited once per statement

Revision ID: 0015
Revises: 0008
Create Date: 2026-11-23 18:00:00.000000

- ``audit_insert_statement()``: the AFTER INSERT … FOR EACH STATEMENT trigger function with a
  transition table (migrations/audit_0015.py): a batch insert is audited with a handful of
  statements instead of three per row. Same entries, same hashes, same chain locking.
- Every audited table (found in the catalog: each row trigger running ``audit_row()``, so tables
  added by revisions in between are included) gets ``audit_<table>_insert`` (that statement
  trigger) and keeps ``audit_<table>`` (the row trigger) for UPDATE and DELETE only.
- ``audit_row()`` replaced by a leaner body (same entries): two statements a row, not three.
- On Citus nothing changes: the triggers run on the workers on shards and write the co-located
  audit shards row by row (``audit_row_citus``, docs/audit.md "Citus").
- Downgrade puts back revision 0005's ``audit_row()`` and its single row trigger for INSERT,
  UPDATE and DELETE.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agentkeep.database.migrations import ddl
from agentkeep.database.migrations.audit_0015 import (
    AUDIT_INSERT_STATEMENT,
    AUDIT_ROW,
    AUDIT_ROW_0005,
    ROW_TRIGGERS,
    STATEMENT_FUNCTION,
    STATEMENT_TRIGGERS,
    triggers,
    triggers_0005,
)

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ()

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _audited(query: str) -> dict[str, str]:
    """table -> its audit triggers' arguments as SQL literals, read from the catalog."""
    audited: dict[str, str] = {}
    for table, _name, arguments in op.get_bind().execute(sa.text(query)):
        names = [table, *arguments]
        if not all(_IDENTIFIER.match(name) for name in names):
            raise ValueError(f"unexpected audit trigger arguments on {table!r}: {arguments!r}")
        audited[table] = ", ".join(f"'{name}'" for name in arguments)
    return audited


def upgrade() -> None:
    if ddl.citus_installed():
        return
    op.execute(AUDIT_INSERT_STATEMENT)
    op.execute(f"REVOKE ALL ON FUNCTION {STATEMENT_FUNCTION}() FROM PUBLIC")
    op.execute(AUDIT_ROW)
    for table, arguments in _audited(ROW_TRIGGERS).items():
        op.execute(f"DROP TRIGGER audit_{table} ON {table}")
        for statement in triggers(table, arguments):
            op.execute(statement)


def downgrade() -> None:
    if ddl.citus_installed():
        return
    for table, arguments in _audited(STATEMENT_TRIGGERS).items():
        op.execute(f"DROP TRIGGER audit_{table}_insert ON {table}")
        op.execute(f"DROP TRIGGER audit_{table} ON {table}")
        for statement in triggers_0005(table, arguments):
            op.execute(statement)
    op.execute(f"DROP FUNCTION {STATEMENT_FUNCTION}()")
    op.execute(AUDIT_ROW_0005)
