"""SQL for the profile catalog. Takes a connection; never commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.profiles.tables import profiles, vocabulary_terms

# Constant statements: which principal the owner's apply transaction acts as, step by step.
ACT_AS_OPERATOR = sa.text("SET LOCAL agentkeep.principal = 'operator'")
ACT_AS_SERVICE = sa.text("SET LOCAL agentkeep.principal = 'service'")
SEQUENTIAL = sa.text("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
LOCK = sa.text("SELECT pg_advisory_xact_lock(hashtext('agentkeep.profile'))")

PROFILE_COLUMNS = [c for c in profiles.c if c.name not in {"created_at", "updated_at"}]


async def lock(conn: AsyncConnection) -> None:
    """One apply at a time (until this transaction ends).

    On Citus, writing a reference table that distributed tables reference, after reading those
    tables in the same transaction, needs one connection per node (a plain placeholder setting
    on PostgreSQL without Citus).
    """
    await conn.execute(SEQUENTIAL)
    await conn.execute(LOCK)


async def active(conn: AsyncConnection) -> sa.RowMapping | None:
    statement = sa.select(*PROFILE_COLUMNS).where(profiles.c.is_active)
    return (await conn.execute(statement)).mappings().one_or_none()


async def terms(conn: AsyncConnection) -> dict[str, tuple[str, ...]]:
    statement = sa.select(vocabulary_terms.c.vocabulary, vocabulary_terms.c.term).order_by(
        vocabulary_terms.c.vocabulary, vocabulary_terms.c.position, vocabulary_terms.c.term
    )
    found: dict[str, list[str]] = {}
    for vocabulary, term in (await conn.execute(statement)).all():
        found.setdefault(vocabulary, []).append(term)
    return {vocabulary: tuple(listed) for vocabulary, listed in found.items()}


async def usage(conn: AsyncConnection, column: sa.Column[Any], listed: Sequence[str]) -> dict[str, int]:
    """How many rows use each of ``listed`` in ``column`` (the caller acts as the operator)."""
    statement = sa.select(column, sa.func.count()).where(column.in_(listed)).group_by(column)
    return {term: count for term, count in (await conn.execute(statement)).all()}


async def put_terms(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert terms, or move existing ones to their new position."""
    if not rows:
        return
    statement = pg_insert(vocabulary_terms).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[vocabulary_terms.c.vocabulary, vocabulary_terms.c.term],
        set_={"position": statement.excluded.position},
        where=vocabulary_terms.c.position != statement.excluded.position,
    )
    await conn.execute(statement)


async def delete_terms(conn: AsyncConnection, vocabulary: str, listed: Sequence[str]) -> None:
    await conn.execute(
        sa.delete(vocabulary_terms).where(
            vocabulary_terms.c.vocabulary == vocabulary, vocabulary_terms.c.term.in_(listed)
        )
    )


async def save_active(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Store the profile row and make it the only active one (the caller holds the apply lock).

    An UPDATE, else an INSERT, rather than INSERT … ON CONFLICT: Citus refuses now() in the
    DO UPDATE clause of a reference table.
    """
    await conn.execute(
        sa.update(profiles)
        .where(profiles.c.is_active, profiles.c.name != values["name"])
        .values(is_active=False)
    )
    changes = {**values, "is_active": True, "applied_at": sa.func.now()}
    updated = await conn.execute(
        sa.update(profiles).where(profiles.c.name == values["name"]).values(**changes)
    )
    if updated.rowcount == 0:
        await conn.execute(sa.insert(profiles).values(**changes))
