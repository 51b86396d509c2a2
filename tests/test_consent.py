"""Consent tiers per scope and the consent log (seed 004 2.2, 2.7, 4.1; seed 000 consent_audit).

Raw SQL runs as the application role inside a transaction that is rolled back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from pydantic import ValidationError

from agentkeep.consent.models import NewConsentRecord, SettingsChange, TierChange
from agentkeep.errors import Conflict, InvalidInput, NotFound
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.profiles.loader import SHIPPED, load_profile

SEVEN = ["communication", "finance", "global", "goal_coaching", "health", "scheduling", "social"]


async def test_a_new_user_gets_the_active_profiles_default_scopes(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    tiers = await keep.consent.tiers(user.user_id)
    assert [(tier.scope, tier.tier_level, tier.is_active) for tier in tiers] == [("global", "passive", True)]
    # Each creation is logged: no tier before, the default tier after.
    logs = (await keep.consent.logs(user.user_id)).items
    assert [(log.action, log.scope, log.previous_value, log.new_value) for log in logs] == [
        ("tier_changed", "global", None, "passive")
    ]
    assert logs[0].consent_tier_id == tiers[0].id and logs[0].metadata["created"] is True


@pytest.mark.parametrize("name", SHIPPED)
async def test_default_scopes_of_each_shipped_profile(database_factory: Any, name: str) -> None:
    """Seed 004 4.1 for othello (its seven scopes); every other profile's consent.default_scopes."""
    from agentkeep.database import migrate
    from agentkeep.database.engine import Database
    from agentkeep.schema import SCHEMA
    from agentkeep.settings import load_settings
    from agentkeep.users.models import NewUser

    loaded = load_profile(name)
    async with database_factory(f"agentkeep_consent_{name}") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database)
            fresh = Keep(database, load_settings())
            await fresh.profile.apply(loaded)
            user = await fresh.users.create(NewUser(email=f"c-{new_id().hex[:10]}@example.com"))
            tiers = await fresh.consent.tiers(user.user_id)
        finally:
            await database.close()
    assert sorted(tier.scope for tier in tiers) == sorted(loaded.profile.consent.default_scopes)
    assert {tier.tier_level for tier in tiers} == {loaded.profile.consent.default_tier}
    if name == "othello":
        assert sorted(tier.scope for tier in tiers) == SEVEN


async def test_existing_users_get_default_scopes_at_migration(database_factory: Any) -> None:
    from agentkeep.database import migrate
    from agentkeep.database.engine import Database
    from agentkeep.database.urls import asyncpg_dsn
    from agentkeep.schema import SCHEMA

    async with database_factory("agentkeep_consent_backfill") as urls:
        database = Database.from_urls(urls, schema=SCHEMA)
        try:
            await migrate.upgrade(database, "0008")
            owner = await asyncpg.connect(asyncpg_dsn(urls.owner))
            try:
                user_id = new_id()
                async with owner.transaction():
                    await owner.execute(f"SET LOCAL agentkeep.user_id = '{user_id}'")
                    await owner.execute(
                        "INSERT INTO users (user_id, email) VALUES ($1, $2)", user_id, "old@example.com"
                    )
                await migrate.upgrade(database)
                async with owner.transaction():
                    await owner.execute(f"SET LOCAL agentkeep.user_id = '{user_id}'")
                    tiers = await owner.fetch("SELECT scope, tier_level FROM consent_tiers")
                    logs = await owner.fetch("SELECT action, new_value FROM consent_logs")
            finally:
                await owner.close()
        finally:
            await database.close()
    # No profile applied yet: the default profile's scopes.
    assert [tuple(row) for row in tiers] == [("global", "passive")]
    assert [tuple(row) for row in logs] == [("tier_changed", "passive")]


async def test_tier_and_settings_changes_are_logged_with_before_and_after(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    changed = await keep.consent.set_tier(
        user.user_id, "global", TierChange(tier_level="active", reason="trust it")
    )
    assert (changed.tier_level, changed.version) == ("active", 2)
    await keep.consent.update_settings(user.user_id, "global", SettingsChange(settings_data={"quiet": True}))
    # A scope the user had no row for gets one.
    await keep.consent.set_tier(user.user_id, "health", TierChange(tier_level="suggestive"))
    logs = (await keep.consent.logs(user.user_id)).items
    seen = [(log.action, log.scope, log.previous_value, log.new_value, log.reason) for log in reversed(logs)]
    assert seen == [
        ("tier_changed", "global", None, "passive", None),
        ("tier_changed", "global", "passive", "active", "trust it"),
        ("settings_updated", "global", "{}", '{"quiet": true}', None),
        ("tier_changed", "health", None, "suggestive", None),
    ]
    # The reason is not kept on the row: the next change without one logs none.
    await keep.consent.set_tier(user.user_id, "global", TierChange(tier_level="passive"))
    latest = (await keep.consent.logs(user.user_id, scope="global", limit=1)).items[0]
    assert (latest.previous_value, latest.new_value, latest.reason) == ("active", "passive", None)


async def test_raw_sql_cannot_change_a_tier_without_a_log_entry(as_app: Any, make_user: Any) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute("UPDATE consent_tiers SET tier_level = 'autonomous' WHERE scope = 'global'")
        await conn.execute("UPDATE consent_tiers SET is_active = false WHERE scope = 'global'")
        rows = await conn.fetch("SELECT action, previous_value, new_value FROM consent_logs ORDER BY id")
        assert [tuple(row) for row in rows][-2:] == [
            ("tier_changed", "passive", "autonomous"),
            ("tier_changed", "autonomous", None),
        ]
        # The log is append-only for the application.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute("DELETE FROM consent_logs")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with conn.transaction():
                await conn.execute("UPDATE consent_logs SET new_value = 'passive'")
        # A scope is fixed once made.
        with pytest.raises(asyncpg.CheckViolationError, match="consent_tiers_scope_fixed"):
            async with conn.transaction():
                await conn.execute("UPDATE consent_tiers SET scope = 'health'")


async def test_one_active_row_per_scope_even_when_racing(keep: Keep, make_user: Any, as_app: Any) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO consent_tiers (user_id, id, scope) VALUES ($1, $2, 'global')",
                    user.user_id,
                    new_id(),
                )
    # Two first settings of one scope at once: one row, the other caller told so (409).
    results = await asyncio.gather(
        *(
            keep.consent.set_tier(user.user_id, "finance", TierChange(tier_level=t))
            for t in ("active", "suggestive")
        ),
        return_exceptions=True,
    )
    failures = [result for result in results if isinstance(result, BaseException)]
    assert all(isinstance(failure, Conflict) and failure.field == "scope" for failure in failures)
    tiers = [tier for tier in await keep.consent.tiers(user.user_id) if tier.scope == "finance"]
    assert len(tiers) == 1


async def test_bad_input_names_the_field_and_changes_nothing(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    with pytest.raises(ValidationError):
        TierChange(tier_level="total")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        await keep.consent.set_tier(user.user_id, "gardening", TierChange(tier_level="active"))
    assert refused.value.field == "scope"
    with pytest.raises(NotFound):
        await keep.consent.get(user.user_id, "health")
    assert len((await keep.consent.logs(user.user_id)).items) == 1


async def test_kai_legal_acknowledgement_and_the_consent_audit_view(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    """Seed 000: consent_audit logs Kai's consent actions (legal_acknowledged, dated)."""
    user = await make_user()
    entry = await keep.consent.record(
        user.user_id,
        NewConsentRecord(
            action="approved", scope="legal", new_value="acknowledged", metadata={"document": "v1"}
        ),
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        rows = await conn.fetch("SELECT id, action, scope, new_value, metadata FROM kai.consent_audit")
        assert [
            (row["id"], row["action"], row["scope"], row["new_value"])
            for row in rows
            if row["scope"] == "legal"
        ] == [(entry.id, "approved", "legal", "acknowledged")]
        othello = await conn.fetch(
            "SELECT id, user_id, tier_level, scope, is_active FROM othello.consent_tiers"
        )
        assert [(row["scope"], row["tier_level"]) for row in othello] == [("global", "passive")]
    other = await make_user()
    async with as_app(Principal.user(other.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM kai.consent_audit WHERE scope = 'legal'") == 0
