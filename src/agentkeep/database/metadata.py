"""The one MetaData every table belongs to, and the column shapes the tables share."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Tables whose rows belong to one user: user_id leads the primary key, RLS allows only the
# acting user's rows, and the schema could be distributed by user_id (Citus).
USER_TABLE: dict[str, Any] = {"tenancy": "user"}
# Catalogs shared by every user: readable by all, writable by a service principal only.
CATALOG_TABLE: dict[str, Any] = {"tenancy": "catalog"}
# Operator-only tables the application role may read but not write.
OPERATOR_TABLE: dict[str, Any] = {"tenancy": "operator"}
# Column.info of a column holding a credential's hash or a wrapped key: kept out of a user's data
# export (docs/privacy.md) — it tells nothing about the person and would help guess the secret.
CREDENTIAL_COLUMN: dict[str, Any] = {"credential": True}


def user_id_column() -> sa.Column[Any]:
    return sa.Column(
        "user_id",
        pg.UUID(as_uuid=True),
        sa.ForeignKey("users.user_id", ondelete="CASCADE"),
        primary_key=True,
    )


def id_column() -> sa.Column[Any]:
    return sa.Column("id", pg.UUID(as_uuid=True), primary_key=True)


def timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


def version_column() -> sa.Column[Any]:
    """Optimistic lock: every update names the version it read and bumps it."""
    return sa.Column("version", sa.Integer, nullable=False, server_default=sa.text("1"))


def jsonb(name: str, *, default: str | None = "{}", nullable: bool = False) -> sa.Column[Any]:
    server_default = sa.text(f"'{default}'::jsonb") if default is not None else None
    return sa.Column(name, pg.JSONB, nullable=nullable, server_default=server_default)


def one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=name)


def vocabulary_column(
    table: str, column: str, vocabulary: str
) -> tuple[sa.Column[Any], sa.ForeignKeyConstraint]:
    """What ties ``table.column`` to the terms of ``vocabulary`` in ``vocabulary_terms``.

    A stored generated column holding the vocabulary's name, and a foreign key from
    (that column, ``column``) to the catalog: a term some row uses cannot be deleted. The
    column's ``info`` records the pair, so the list of vocabulary columns is read from here
    (one source). A trigger gives the error that names the column and the term (migration 0004).
    """
    generated = sa.Column(
        f"{column}_vocabulary",
        sa.String(63),
        sa.Computed(f"'{vocabulary}'", persisted=True),
        info={"vocabulary": vocabulary, "term_column": column},
    )
    key = sa.ForeignKeyConstraint(
        [f"{column}_vocabulary", column],
        ["vocabulary_terms.vocabulary", "vocabulary_terms.term"],
        name=f"fk_{table}_{column}_terms",
        ondelete="RESTRICT",
    )
    return generated, key


def vocabulary_columns(tables: sa.MetaData) -> list[tuple[str, str, str]]:
    """(table, column, vocabulary) of every column tied to a vocabulary by :func:`vocabulary_column`."""
    return [
        (table.name, column.info["term_column"], column.info["vocabulary"])
        for table in tables.sorted_tables
        for column in table.columns
        if "vocabulary" in column.info
    ]


def vocabulary_check_name(table: str, column: str) -> str:
    """The name the vocabulary trigger's error gives as its constraint (error translation reads it)."""
    return f"vk_{table}_{column}"
