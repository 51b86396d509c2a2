"""Alembic, driven from Python on the owner's connection: up, down, status, history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData

from agentkeep.database.engine import Database
from agentkeep.errors import InvalidInput

SCRIPT_LOCATION = "agentkeep.database:migrations"


@dataclass(frozen=True)
class RevisionStatus:
    revision: str
    description: str
    is_applied: bool
    creates_tables: tuple[str, ...]


def alembic_config(connection: Connection | None = None, target_metadata: MetaData | None = None) -> Config:
    """``target_metadata``: the declared tables (agentkeep.schema.metadata), handed to env.py for
    autogenerate; upgrade and downgrade run the revisions and need none."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = target_metadata
    return config


def _target_metadata(database: Database) -> MetaData | None:
    return database.schema.metadata if database.schema is not None else None


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def _revisions_oldest_first() -> list[Any]:
    return list(reversed(list(script_directory().walk_revisions())))


def revision_creating(table: str) -> str:
    """The revision that creates ``table`` (seed 000's ``migrate.py --table X``)."""
    for script in _revisions_oldest_first():
        if table in getattr(script.module, "creates_tables", ()):
            return str(script.revision)
    raise InvalidInput(f"no migration creates a table named {table!r}", field="table")


def _applied(connection: Connection) -> set[str]:
    heads = MigrationContext.configure(connection).get_current_heads()
    applied: set[str] = set()
    directory = script_directory()
    for head in heads:
        for script in directory.iterate_revisions(head, "base"):
            applied.add(script.revision)
    return applied


async def upgrade(database: Database, revision: str = "head") -> None:
    try:
        async with database.owner_transaction() as conn:
            await conn.run_sync(
                lambda sync: command.upgrade(alembic_config(sync, _target_metadata(database)), revision)
            )
    except CommandError as exc:
        raise InvalidInput(f"cannot migrate up to {revision!r}: {exc}", field="revision") from None


async def downgrade(database: Database, revision: str = "-1") -> None:
    try:
        async with database.owner_transaction() as conn:
            await conn.run_sync(
                lambda sync: command.downgrade(alembic_config(sync, _target_metadata(database)), revision)
            )
    except CommandError as exc:
        raise InvalidInput(f"cannot migrate down to {revision!r}: {exc}", field="revision") from None


async def status(database: Database) -> list[RevisionStatus]:
    async with database.owner_transaction() as conn:
        applied = await conn.run_sync(_applied)
    return [
        RevisionStatus(
            revision=str(script.revision),
            description=str(script.doc or ""),
            is_applied=script.revision in applied,
            creates_tables=tuple(getattr(script.module, "creates_tables", ())),
        )
        for script in _revisions_oldest_first()
    ]


async def pending(database: Database) -> list[str]:
    return [item.revision for item in await status(database) if not item.is_applied]


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revisions: tuple[str, ...]
    """The revisions this one follows: none for the first, two or more for a merge."""
    description: str
    creates_tables: tuple[str, ...]


def history() -> list[Revision]:
    """Every revision shipped in the package, oldest first (reads no database)."""
    return [
        Revision(
            revision=str(script.revision),
            down_revisions=_as_tuple(script.down_revision),
            description=str(script.doc or ""),
            creates_tables=tuple(getattr(script.module, "creates_tables", ())),
        )
        for script in _revisions_oldest_first()
    ]


def _as_tuple(revisions: Any) -> tuple[str, ...]:
    """Alembic gives a down revision as None, one string, or a tuple of them (a merge)."""
    if revisions is None:
        return ()
    if isinstance(revisions, str):
        return (revisions,)
    return tuple(str(revision) for revision in revisions)


OTHER_CONNECTIONS = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


async def other_connections(database: Database) -> int:
    """Other clients connected to this database: a running API server keeps some open.

    Reverting a migration under a running server makes it answer 500 (its tables are gone), so
    ``agentkeep migrate down`` says so before it asks.
    """
    async with database.owner_transaction() as conn:
        return int((await conn.execute(OTHER_CONNECTIONS)).scalar_one())
