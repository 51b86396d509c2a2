"""The encrypted columns: which (table, column) hold vault envelopes, and how a row is named.

Each domain declares its own in its ``tables.py`` as a tuple ``ENCRYPTED_COLUMNS``;
``agentkeep.encrypted`` (above the domains, like ``agentkeep.schema``) gathers them. Rotation,
export and erasure read that one list. Nothing registers itself on import.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class EncryptedColumn:
    """``table.column`` holds envelopes (bytea); ``key_columns`` are the row's primary key,
    ``user_id`` first. The binding's row id is the other key columns' text, joined by "/"."""

    table: str
    column: str
    key_columns: tuple[str, ...] = ("user_id", "id")

    def __post_init__(self) -> None:
        for name in (self.table, self.column, *self.key_columns):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"not a plain identifier: {name!r}")
        if not self.key_columns or self.key_columns[0] != "user_id" or len(self.key_columns) < 2:
            raise ValueError(f"{self.table}: key_columns start with user_id and name the row")

    @property
    def row_key_columns(self) -> tuple[str, ...]:
        return self.key_columns[1:]

    def row_id(self, row: Mapping[Any, Any]) -> str:
        """The binding's row id of ``row`` (a mapping holding the key columns)."""
        return "/".join(str(row[name]) for name in self.row_key_columns)


def register(column: EncryptedColumn) -> EncryptedColumn:
    """Check and return ``column``, for a domain's ``ENCRYPTED_COLUMNS`` tuple. Pure: the list
    is the tuples ``agentkeep.encrypted`` gathers, not a registry filled at import."""
    return EncryptedColumn(column.table, column.column, column.key_columns)


@dataclass(frozen=True)
class EncryptedColumns:
    """The gathered list; each (table, column) once."""

    columns: tuple[EncryptedColumn, ...]

    @classmethod
    def gather(cls, *groups: Iterable[EncryptedColumn]) -> EncryptedColumns:
        columns = tuple(column for group in groups for column in group)
        seen: set[tuple[str, str]] = set()
        for column in columns:
            place = (column.table, column.column)
            if place in seen:
                raise ValueError(f"{column.table}.{column.column} is declared twice")
            seen.add(place)
        return cls(columns)

    def __iter__(self) -> Any:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def find(self, table: str, column: str) -> EncryptedColumn:
        for item in self.columns:
            if (item.table, item.column) == (table, column):
                return item
        raise KeyError(f"{table}.{column} is not an encrypted column")
