"""Applying profiles, and vocabularies the database itself enforces (revision 0004).

Each apply test gets a fresh database of its own (on every node on Citus): applying changes the
catalog the rest of the suite's database shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.database import migrate
from agentkeep.database.engine import Database
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn
from agentkeep.errors import InvalidInput
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.profiles.loader import SHIPPED, ProfileError, load_profile
from agentkeep.profiles.model import vocabulary_terms
from agentkeep.profiles.service import ProfileService, TermsInUse
from agentkeep.schema import SCHEMA
from agentkeep.settings import load_settings
from agentkeep.users.models import NewUser

TERMS = "SELECT vocabulary, term FROM vocabulary_terms ORDER BY vocabulary, position, term"


@pytest.fixture
async def fresh(database_factory: Any, request: pytest.FixtureRequest) -> AsyncIterator[Keep]:
    """A migrated database of its own, with no profile applied yet."""
    async with database_factory(f"agentkeep_prof_{request.node.name[:30].lower()}") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        await migrate.upgrade(database)
        yield Keep(database, load_settings())
        await database.close()


async def _terms(urls: DatabaseUrls) -> dict[str, tuple[str, ...]]:
    conn = await asyncpg.connect(asyncpg_dsn(urls.app))
    try:
        found: dict[str, list[str]] = {}
        for row in await conn.fetch(TERMS):
            found.setdefault(row["vocabulary"], []).append(row["term"])
        return {name: tuple(terms) for name, terms in found.items()}
    finally:
        await conn.close()


@pytest.mark.parametrize("name", SHIPPED)
async def test_each_shipped_profile_applies_to_a_fresh_database_then_changes_nothing(
    fresh: Keep, name: str
) -> None:
    loaded = load_profile(name)
    first = await fresh.profile.apply(loaded)
    assert first.changed and not first.dry_run
    assert await _terms(fresh.database.urls) == vocabulary_terms(loaded.profile)
    active = await fresh.profile.active()
    assert (active.name, active.version, active.sha256) == (name, "1.0.0", loaded.sha256.hex())
    assert active.profile == loaded.profile
    agents = {agent.name: agent.persona_type for agent in await fresh.agents.list()}
    assert agents == {agent.name: agent.persona_type for agent in loaded.profile.agents}
    personas = {(p.persona_name, p.persona_version) for p in await fresh.personas.list()}
    assert personas == {(p.persona_name, p.persona_version) for p in loaded.profile.personas}

    again = await fresh.profile.apply(load_profile(name))
    assert not again.changed
    assert again.lines() == [f"profile {name} 1.0.0 is already applied; nothing changed"]
    assert (await fresh.profile.active()).applied_at == active.applied_at
    assert len(await fresh.agents.list()) == len(loaded.profile.agents)


async def test_switching_profiles_adds_and_removes_terms_and_keeps_one_active(fresh: Keep) -> None:
    await fresh.profile.apply(load_profile("default"))
    report = await fresh.profile.apply(load_profile("kai"))
    assert report.previous == "default 1.0.0"
    changed = {change.vocabulary: change.removed for change in report.terms}
    assert changed["agent_session_type"] == ("assistant", "developer", "qa", "architect")
    assert (await _terms(fresh.database.urls))["agent_session_type"] == ("kai",)
    owner = await asyncpg.connect(asyncpg_dsn(fresh.database.urls.owner))
    try:
        assert await owner.fetch("SELECT name FROM profiles WHERE is_active") == [("kai",)]
        assert await owner.fetchval("SELECT count(*) FROM profiles") == 2
    finally:
        await owner.close()


async def test_removing_a_term_in_use_is_refused_with_the_count_and_changes_nothing(fresh: Keep) -> None:
    await fresh.profile.apply(load_profile("agentic"))
    user = await fresh.users.create(NewUser(email=f"u-{new_id().hex[:10]}@example.com"))
    for _ in range(2):
        await fresh.agent_sessions.create(user.user_id, NewAgentSession(agent_type="qa"))
    before = await _terms(fresh.database.urls)

    with pytest.raises(TermsInUse) as refused:
        await fresh.profile.apply(load_profile("othello"))
    detail = refused.value.detail
    assert (
        "cannot remove term 'developer' from vocabulary agent_type: used by 1 row in agents.persona_type"
        in detail
    )
    with pytest.raises(TermsInUse) as refused_sessions:
        await fresh.profile.apply(load_profile("kai"))
    # The user's default consent scope (revision 0013) is a term kai does not have either.
    assert refused_sessions.value.detail == (
        "cannot remove term 'global' from vocabulary consent_scope: used by 1 row in consent_tiers.scope; "
        "cannot remove term 'qa' from vocabulary agent_session_type: "
        "used by 2 rows in agent_sessions.agent_type"
    )
    assert refused.value.status_code == 409
    assert await _terms(fresh.database.urls) == before
    assert (await fresh.profile.active()).name == "agentic"
    assert {agent.name for agent in await fresh.agents.list()} == {"developer", "qa", "architect"}


async def test_a_dry_run_reports_and_changes_nothing(fresh: Keep) -> None:
    await fresh.profile.apply(load_profile("default"))
    before = await _terms(fresh.database.urls)
    report = await fresh.profile.apply(load_profile("vromm"), dry_run=True)
    assert report.changed and report.dry_run
    assert report.agents.added == ("Vromm AI Assistant",)
    assert report.lines()[0] == "would apply profile vromm 1.0.0 (was default 1.0.0)"
    assert await _terms(fresh.database.urls) == before
    assert (await fresh.profile.active()).name == "default"
    assert await fresh.agents.list() == []


async def test_a_malformed_file_is_one_line_and_nothing_is_applied(fresh: Keep, tmp_path: Path) -> None:
    await fresh.profile.apply(load_profile("default"))
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\nname = "bad"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
                   '[quotas.tiers.free]\ndaily_requests = -1\n')  # fmt: skip
    with pytest.raises(ProfileError) as refused:
        await Keep.connect(load_settings(), apply_profile=str(bad))  # refused before connecting
    assert refused.value.detail == (
        f"profile file {bad}: quotas.tiers.free.daily_requests: Input should be greater than or equal to 0"
    )
    assert (await fresh.profile.active()).name == "default"


async def test_the_test_database_has_the_default_profile(keep: Keep) -> None:
    active = await keep.profile.active()
    assert active.name == "default"
    assert "kai" in active.vocabularies["agent_session_type"]
    assert active.profile is not None and active.profile.defaults.user_session_type == "interactive"


# --- the database refuses terms outside the vocabulary ------------------------------------------

AsApp = Callable[[Principal | None], AbstractAsyncContextManager[asyncpg.Connection]]


async def _refused(conn: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.CheckViolationError:
    """Run ``sql`` in a savepoint; it must fail with a check violation, which is returned."""
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        async with conn.transaction():
            await conn.execute(sql, *args)
    return refused.value


async def test_raw_sql_as_the_application_role_is_refused_naming_column_and_term(
    as_app: AsApp, make_user: Any
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        insert = "INSERT INTO agent_sessions (user_id, id, agent_type) VALUES ($1, $2, $3)"
        error = await _refused(conn, insert, user.user_id, new_id(), "kaix")
        assert "agent_sessions.agent_type: 'kaix' is not a term of the vocabulary agent_session_type" in str(
            error
        )
        assert error.hint is not None and error.hint.startswith("allowed: assistant, kai")
        error = await _refused(
            conn,
            "INSERT INTO user_sessions (user_id, id, token_hash, session_type, expires_at)"
            " VALUES ($1, $2, sha256('t'::bytea), 'telnet', now() + interval '1 hour')",
            user.user_id,
            new_id(),
        )
        assert "user_sessions.session_type: 'telnet' is not a term" in str(error)
        session_id = new_id()
        await conn.execute(insert, user.user_id, session_id, "kai")
        error = await _refused(
            conn, "UPDATE agent_sessions SET agent_type = 'helper' WHERE id = $1", session_id
        )
        assert "agent_sessions.agent_type: 'helper' is not a term" in str(error)
    async with as_app(Principal.service()) as conn:
        error = await _refused(
            conn,
            "INSERT INTO agents (id, name, persona_type) VALUES ($1, $2, 'coder')",
            new_id(),
            new_id().hex,
        )
        assert "agents.persona_type: 'coder' is not a term of the vocabulary agent_type" in str(error)
        # The application role reads the catalog but cannot add a term (row-level security).
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO vocabulary_terms (vocabulary, term) VALUES ('agent_type', 'coder')"
            )


async def test_a_term_in_use_cannot_be_deleted_from_the_catalog(
    urls: DatabaseUrls, make_user: Any, keep: Keep
) -> None:
    user = await make_user()
    await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="architect"))
    owner = await asyncpg.connect(asyncpg_dsn(urls.owner))
    try:
        async with owner.transaction():
            with pytest.raises(asyncpg.RestrictViolationError):
                await owner.execute(
                    "DELETE FROM vocabulary_terms"
                    " WHERE vocabulary = 'agent_session_type' AND term = 'architect'"
                )
    finally:
        await owner.close()


async def test_the_sdk_refuses_a_term_outside_the_vocabulary_naming_the_field(
    keep: Keep, make_user: Any
) -> None:
    user = await make_user()
    with pytest.raises(InvalidInput) as refused:
        await keep.agent_sessions.create(user.user_id, NewAgentSession(agent_type="coach"))
    assert refused.value.field == "agent_type"
    assert "'coach' is not a term of the vocabulary agent_session_type" in refused.value.detail


async def test_a_deployment_asking_for_another_profile_is_refused(fresh: Keep) -> None:
    await fresh.profile.apply(load_profile("default"))
    service = ProfileService(fresh.database)
    await service.check("default")
    with pytest.raises(
        Exception, match=r"database has profile default 1\.0\.0; AGENTKEEP_PROFILE asks for kai"
    ):
        await service.check("kai")
