"""What the layers above tell the database layer about their tables.

The database layer knows no domain. The domains declare their tables; ``agentkeep.schema``,
above them, gathers the tables and hands this description down: Alembic's autogenerate target,
the tables ``agentkeep doctor`` expects, and the map error translation reads to name the input
field a violated constraint guards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect

PARTITION_COLUMN = "user_id"


@dataclass(frozen=True)
class DeclaredSchema:
    metadata: sa.MetaData
    constraint_fields: Mapping[str, str]
    """The name of each constraint and unique index (as created) -> the input field it guards."""

    @classmethod
    def from_metadata(cls, metadata: sa.MetaData) -> DeclaredSchema:
        return cls(metadata=metadata, constraint_fields=constraint_fields(metadata))

    def tables_by_tenancy(self, tenancy: str) -> list[sa.Table]:
        """Tables whose ``info["tenancy"]`` is ``tenancy`` (see database.metadata), in FK order."""
        return [table for table in self.metadata.sorted_tables if table.info.get("tenancy") == tenancy]


def constraint_fields(metadata: sa.MetaData) -> dict[str, str]:
    """Each named constraint and unique index of ``metadata`` -> the field its violation names.

    The field is the constraint's last column other than user_id (user_id leads every composite
    key; the column after it is the one the caller chose). A check constraint or an expression
    index names no column: its name does, after ``ck_<table>_`` / ``uq_<table>_`` (the naming
    convention in database.metadata), e.g. ``ck_messages_role_valid`` -> ``role``.
    """
    preparer = PGDialect().identifier_preparer  # type: ignore[no-untyped-call]
    fields: dict[str, str] = {}
    for table in metadata.sorted_tables:
        guards: list[tuple[Any, list[str]]] = [
            (constraint, [column.name for column in getattr(constraint, "columns", [])])
            for constraint in table.constraints
        ]
        guards += [
            (index, [column.name for column in index.columns]) for index in table.indexes if index.unique
        ]
        for guard, columns in guards:
            if guard.name is None:
                continue
            name = preparer.format_constraint(guard) if not isinstance(guard, sa.Index) else guard.name
            if name is None:
                continue
            name = str(name).strip('"')
            if name in fields:
                raise ValueError(f"two constraints are named {name!r}: error translation needs one")
            fields[name] = _field_guarded(table, name, columns)
    return fields


def _field_guarded(table: sa.Table, name: str, columns: list[str]) -> str:
    chosen = [column for column in columns if column != PARTITION_COLUMN] or columns
    if chosen:
        return chosen[-1]
    for prefix in (f"ck_{table.name}_", f"uq_{table.name}_", f"{table.name}_"):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            longest_first = sorted((column.name for column in table.columns), key=len, reverse=True)
            return next((column for column in longest_first if rest.startswith(column)), rest)
    return name
