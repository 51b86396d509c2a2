"""``keep.profile``: the active profile, and applying one (one transaction, idempotent).

Applying runs on the schema owner's connection: it writes the operator tables, counts the rows
that use a term it would remove (acting as the operator, see revision 0004), and seeds the
catalogs' agents and personas (acting as a service principal, as the catalog policies ask).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from agentkeep.agents import repository as agents_repository
from agentkeep.catalog import SERVICE
from agentkeep.database.engine import Database
from agentkeep.database.metadata import metadata as all_tables
from agentkeep.database.metadata import vocabulary_columns
from agentkeep.errors import ConfigurationError, Conflict
from agentkeep.ids import new_id
from agentkeep.personas import repository as personas_repository
from agentkeep.principal import Principal
from agentkeep.profiles import repository
from agentkeep.profiles.diff import RowChanges, TermChange, term_changes
from agentkeep.profiles.loader import LoadedProfile, load_profile
from agentkeep.profiles.model import AgentSeed, PersonaSeed, Profile, vocabulary_terms


class TermsInUse(Conflict):
    title = "Terms in use"


class ActiveProfile(BaseModel):
    """The database's profile: what ``profile apply`` last applied, and the terms in force."""

    model_config = ConfigDict(frozen=True)

    name: str | None
    version: str | None
    title: str | None
    sha256: str | None = Field(description="SHA-256 (hex) of the applied profile's canonical JSON")
    applied_at: datetime | None
    vocabularies: dict[str, tuple[str, ...]] = Field(
        description="vocabulary name (as stored) -> its terms in force, in the profile's order"
    )
    profile: Profile | None = Field(
        description="the whole applied profile; null while none was applied (after a bare migrate up)"
    )


@dataclass(frozen=True)
class ApplyReport:
    name: str
    version: str
    changed: bool
    dry_run: bool = False
    previous: str | None = None
    terms: tuple[TermChange, ...] = ()
    agents: RowChanges = field(default_factory=RowChanges)
    personas: RowChanges = field(default_factory=RowChanges)

    def lines(self) -> list[str]:
        if not self.changed:
            return [f"profile {self.name} {self.version} is already applied; nothing changed"]
        verb = "would apply" if self.dry_run else "applied"
        result = [
            f"{verb} profile {self.name} {self.version}"
            + (f" (was {self.previous})" if self.previous else "")
        ]
        for change in self.terms:
            marks = [f"+{term}" for term in change.added] + [f"-{term}" for term in change.removed]
            result.append(f"  {change.vocabulary}: {' '.join(marks)}")
        for kind, rows in (("agents", self.agents), ("personas", self.personas)):
            for verb_, names in (("added", rows.added), ("updated", rows.changed)):
                if names:
                    result.append(f"  {kind} {verb_}: {', '.join(names)}")
        return result


class _DryRun(Exception):
    """Not an error: carries a dry run's report out of its transaction, rolling it back."""

    def __init__(self, report: ApplyReport) -> None:
        self.report = report


AGENT_FIELDS = ("persona_type", "capabilities", "config", "is_active")
PERSONA_FIELDS = (
    "specialization",
    "capabilities",
    "activation_rules",
    "crisis_scenarios",
    "behavioral_patterns",
    "is_core",
    "priority_level",
    "is_active",
)


class ProfileService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def active(self, *, actor: Principal = SERVICE) -> ActiveProfile:
        async with self._database.transaction(actor) as tx:
            row = await repository.active(tx.conn)
            terms = await repository.terms(tx.conn)
        if row is None:
            return ActiveProfile(
                name=None,
                version=None,
                title=None,
                sha256=None,
                applied_at=None,
                vocabularies=terms,
                profile=None,
            )
        return ActiveProfile(
            name=row["name"],
            version=row["version"],
            title=row["title"],
            sha256=bytes(row["sha256"]).hex(),
            applied_at=row["applied_at"],
            vocabularies=terms,
            profile=Profile.model_validate(row["content"]),
        )

    async def check(self, spec: str) -> None:
        """Refuse to run when AGENTKEEP_PROFILE asks for a profile the database does not have."""
        wanted = load_profile(spec)
        current = await self.active()
        if current.sha256 != wanted.sha256.hex():
            has = f"profile {current.name} {current.version}" if current.name else "no profile applied"
            raise ConfigurationError(
                f"database has {has}; AGENTKEEP_PROFILE asks for {wanted.profile.name} "
                f"{wanted.profile.version}: run 'agentkeep profile apply {spec}'"
            )

    async def apply(self, loaded: LoadedProfile, *, dry_run: bool = False) -> ApplyReport:
        """Make ``loaded`` the active profile. A second apply of the same content changes nothing."""
        try:
            async with self._database.owner_transaction() as conn:
                report = await self._apply(conn, loaded, dry_run=dry_run)
                if dry_run and report.changed:
                    raise _DryRun(report)
                return report
        except _DryRun as rolled_back:
            return rolled_back.report

    async def _apply(self, conn: AsyncConnection, loaded: LoadedProfile, *, dry_run: bool) -> ApplyReport:
        profile = loaded.profile
        await repository.lock(conn)
        current = await repository.active(conn)
        old_terms = await repository.terms(conn)
        new_terms = vocabulary_terms(profile)
        changes = term_changes(old_terms, new_terms)
        reordered = any(old_terms.get(name, ()) != listed for name, listed in new_terms.items())
        await conn.execute(repository.ACT_AS_SERVICE)
        agents_plan = await _plan_agents(conn, profile.agents)
        personas_plan = await _plan_personas(conn, profile.personas)
        same_profile = current is not None and bytes(current["sha256"]) == loaded.sha256
        report = ApplyReport(
            name=profile.name,
            version=profile.version,
            changed=not (
                same_profile and not reordered and not _any(agents_plan) and not _any(personas_plan)
            ),
            dry_run=dry_run,
            previous=f"{current['name']} {current['version']}" if current is not None else None,
            terms=changes,
            agents=agents_plan.changes,
            personas=personas_plan.changes,
        )
        if not report.changed:
            return report
        await _refuse_removing_used_terms(conn, changes)
        await repository.put_terms(
            conn,
            [
                {"vocabulary": name, "term": term, "position": position}
                for name, listed in new_terms.items()
                for position, term in enumerate(listed)
            ],
        )
        for change in changes:
            if change.removed:
                await repository.delete_terms(conn, change.vocabulary, change.removed)
        await conn.execute(repository.ACT_AS_SERVICE)
        await agents_plan.run(conn)
        await personas_plan.run(conn)
        content = loaded.content
        await repository.save_active(
            conn,
            {
                "name": profile.name,
                "version": profile.version,
                "title": profile.title,
                "source": loaded.source,
                "sha256": loaded.sha256,
                "content": content,
            },
        )
        return report


async def _refuse_removing_used_terms(conn: AsyncConnection, changes: tuple[TermChange, ...]) -> None:
    removed = {change.vocabulary: change.removed for change in changes if change.removed}
    if not removed:
        return
    await conn.execute(repository.ACT_AS_OPERATOR)
    problems = []
    for table, column, vocabulary in vocabulary_columns(all_tables):
        if vocabulary not in removed:
            continue
        used = await repository.usage(conn, all_tables.tables[table].c[column], removed[vocabulary])
        problems += [
            f"cannot remove term {term!r} from vocabulary {vocabulary}: used by {count} "
            f"row{'s' if count != 1 else ''} in {table}.{column}"
            for term, count in sorted(used.items())
        ]
    if problems:
        raise TermsInUse("; ".join(problems))


@dataclass
class _RowPlan:
    changes: RowChanges
    inserts: list[dict[str, Any]]
    updates: list[tuple[Any, int, dict[str, Any]]]
    insert: Any
    update: Any

    async def run(self, conn: AsyncConnection) -> None:
        for values in self.inserts:
            await self.insert(conn, {"id": new_id(), **values})
        for row_id, version, values in self.updates:
            await self.update(conn, row_id, version, values)


def _any(plan: _RowPlan) -> bool:
    return bool(plan.inserts or plan.updates)


async def _plan_agents(conn: AsyncConnection, seeds: tuple[AgentSeed, ...]) -> _RowPlan:
    existing = {row["name"]: row for row in await agents_repository.list_all(conn, active_only=False)}
    return _plan(
        {seed.name: seed.model_dump(mode="json") for seed in seeds},
        existing,
        AGENT_FIELDS,
        agents_repository.insert,
        agents_repository.update,
    )


async def _plan_personas(conn: AsyncConnection, seeds: tuple[PersonaSeed, ...]) -> _RowPlan:
    rows = await personas_repository.list_all(conn, active_only=False)
    existing = {f"{row['persona_name']} {row['persona_version']}": row for row in rows}
    return _plan(
        {f"{seed.persona_name} {seed.persona_version}": seed.model_dump(mode="json") for seed in seeds},
        existing,
        PERSONA_FIELDS,
        personas_repository.insert,
        personas_repository.update,
    )


def _plan(
    wanted: dict[str, dict[str, Any]],
    existing: Mapping[str, Any],
    fields: tuple[str, ...],
    insert: Any,
    update: Any,
) -> _RowPlan:
    """Missing rows are inserted, rows whose declared fields differ are updated; none is deleted."""
    inserts, updates, added, changed = [], [], [], []
    for key, values in wanted.items():
        row = existing.get(key)
        if row is None:
            inserts.append(values)
            added.append(key)
            continue
        differing = {name: values[name] for name in fields if row[name] != values[name]}
        if differing:
            updates.append((row["id"], row["version"], differing))
            changed.append(key)
    return _RowPlan(RowChanges(added=tuple(added), changed=tuple(changed)), inserts, updates, insert, update)
