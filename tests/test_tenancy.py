"""Tenancy is enforced by the database: one user's rows are out of every other user's reach."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from agentkeep.activities.models import NewActivity, NewEthicalValidation
from agentkeep.agent_sessions.models import AgentSessionUpdate, NewAgentSession
from agentkeep.agents.models import NewAgent
from agentkeep.conversations.models import ConversationUpdate, NewConversation
from agentkeep.database.roles import APP_ROLE
from agentkeep.decisions.models import FeedbackChange, NewDecision, OnboardingChange
from agentkeep.errors import Forbidden, NotFound
from agentkeep.governance.models import Decision
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.personas.models import NewActivation, NewPersona
from agentkeep.principal import Principal
from agentkeep.schema import metadata, tables_by_tenancy
from agentkeep.user_sessions.models import NewUserSession

# Not the audit trail: the application role may not write it at all (tests/test_audit_append_only.py).
USER_TABLES = [table.name for table in tables_by_tenancy("user") if not table.name.startswith("audit_")]
# Revision 0013: the application role adds consent log entries but may not change or delete any
# (tests/test_consent.py); it still reads only its own.
APPEND_ONLY = {"consent_logs"}


async def _fill(keep: Keep, user_id: uuid.UUID) -> dict[str, Any]:
    """One row in every user table for ``user_id``."""
    agent = await keep.agents.create(NewAgent(name=f"agent-{uuid.uuid4().hex[:8]}", persona_type="developer"))
    persona = await keep.personas.create(
        NewPersona(persona_name=f"p-{uuid.uuid4().hex[:8]}", persona_version="1", specialization="qa")
    )
    started = await keep.user_sessions.start(user_id, NewUserSession())
    agent_session = await keep.agent_sessions.create(
        user_id,
        NewAgentSession(agent_type="developer", agent_id=agent.id, user_session_id=started.session.id),
    )
    activation = await keep.personas.activate(
        user_id, agent_session.id, NewActivation(persona_id=persona.id, activation_trigger="test")
    )
    conversation = await keep.conversations.create(user_id, NewConversation(title="secret"))
    message = await keep.messages.append(user_id, conversation.id, NewMessage(role="user", content="private"))
    key = await keep.access_keys.create(user_id)
    await keep.provider_keys.set(user_id, "openai", "sk-test-" + uuid.uuid4().hex)  # and its vault key
    decision = await keep.decisions.create(
        user_id, NewDecision(decision_type="buy", agent_session_id=agent_session.id, rationale="private")
    )
    await keep.onboarding.set(user_id, agent_session.id, OnboardingChange(risk_profile="balanced"))
    await keep.governance.approve(user_id, agent_session.id, Decision(reason="private"))
    activity = await keep.activities.propose(
        user_id, NewActivity(agent_name="FELLO", activity_type="suggestion", title="secret")
    )
    await keep.activities.validate(
        user_id, NewEthicalValidation(result="flagged", agent_activity_id=activity.id)
    )
    # Five approvals earn a level: agent_trust_levels, its history and trust_metrics rows (revision 0014).
    for _ in range(5):
        earned = await keep.decisions.create(
            user_id, NewDecision(decision_type="buy", agent_session_id=agent_session.id)
        )
        await keep.decisions.set_feedback(user_id, earned.id, FeedbackChange(user_feedback="approved"))
    return {
        "decision": decision,
        "user_session": started.session,
        "agent_session": agent_session,
        "activation": activation,
        "conversation": conversation,
        "message": message,
        "key": key.key,
    }


def test_every_table_declares_its_tenancy_and_user_tables_lead_with_user_id() -> None:
    for table in metadata.sorted_tables:
        assert table.info.get("tenancy") in {"user", "catalog", "operator", "handle"}, table.name
        if table.info["tenancy"] == "handle":  # keyed by the handle (tests/test_handles.py)
            assert list(table.primary_key.columns.keys()) != ["user_id"], table.name
            continue
        if table.info["tenancy"] != "user":
            assert "user_id" not in table.c, f"{table.name} is shared but has user_id"
            continue
        assert next(iter(table.primary_key.columns)).name == "user_id", table.name
        for constraint in table.constraints:
            if isinstance(constraint, sa.ForeignKeyConstraint):
                target = constraint.referred_table
                if target.info.get("tenancy") == "user":
                    assert "user_id" in constraint.column_keys, f"{constraint.name} skips user_id"
            if isinstance(constraint, sa.UniqueConstraint):
                assert "user_id" in [c.name for c in constraint.columns], f"{constraint.name} lacks user_id"
        # The root table (keyed by user_id alone) may keep handles unique across users.
        is_root = [column.name for column in table.primary_key.columns] == ["user_id"]
        for index in table.indexes:
            if index.unique and not is_root:
                assert "user_id" in [c.name for c in index.columns], f"{index.name} lacks user_id"


async def test_rls_is_enabled_and_forced_with_a_policy_on_every_user_and_catalog_table(
    owner: asyncpg.Connection,
) -> None:
    rows = await owner.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies"
        " FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')"
    )
    security = {row["relname"]: row for row in rows}
    for table in [*USER_TABLES, *(t.name for t in tables_by_tenancy("catalog"))]:
        assert security[table]["relrowsecurity"], f"{table}: RLS not enabled"
        assert security[table]["relforcerowsecurity"], f"{table}: RLS not forced"
        assert security[table]["policies"] >= 1, f"{table}: no policy"


async def test_application_role_can_bypass_none_of_it(owner: asyncpg.Connection, as_app: Any) -> None:
    role = await owner.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, "
        " (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owned,"
        " (SELECT count(*) FROM pg_auth_members WHERE member = r.oid) AS memberships"
        " FROM pg_roles r WHERE rolname = $1",
        APP_ROLE,
    )
    assert role is not None
    assert not role["rolsuper"] and not role["rolbypassrls"]
    assert not role["rolcreaterole"] and not role["rolcreatedb"]
    assert role["owned"] == 0, "the application role must own nothing (owners may disable RLS)"
    assert role["memberships"] == 0, "the application role must not inherit another role"
    async with as_app(None) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("ALTER TABLE messages DISABLE ROW LEVEL SECURITY")
    async with as_app(None) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("SET LOCAL row_security = off; SELECT * FROM messages")


async def test_raw_sql_as_the_app_role_cannot_read_change_or_delete_another_users_rows(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    await _fill(keep, bob.user_id)
    async with as_app(Principal.user(bob.user_id)) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") >= 1, f"bob has no {table} row"
    async with as_app(Principal.user(alice.user_id)) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", bob.user_id) == 0
            if metadata.tables[table].info.get("append_only"):  # nobody's rows may change (0012)
                for change in (f"UPDATE {table} SET created_at = now()", f"DELETE FROM {table}"):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        async with conn.transaction():
                            await conn.execute(f"{change} WHERE user_id = $1", bob.user_id)
                continue
            if table in APPEND_ONLY:
                continue
            assert (
                await conn.execute(f"UPDATE {table} SET updated_at = now() WHERE user_id = $1", bob.user_id)
                == "UPDATE 0"
            )
            assert await conn.execute(f"DELETE FROM {table} WHERE user_id = $1", bob.user_id) == "DELETE 0"
    async with as_app(Principal.user(bob.user_id)) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") >= 1, f"bob lost his {table} row"


async def test_rows_cannot_be_written_for_another_user(make_user: Any, as_app: Any) -> None:
    alice, bob = await make_user(), await make_user()
    async with as_app(Principal.user(alice.user_id)) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await conn.execute(
                "INSERT INTO conversations (user_id, id) VALUES ($1, $2)", bob.user_id, new_id()
            )
    async with as_app(Principal.user(alice.user_id)) as conn:
        conversation_id = new_id()
        await conn.execute(
            "INSERT INTO conversations (user_id, id) VALUES ($1, $2)", alice.user_id, conversation_id
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "UPDATE conversations SET user_id = $1 WHERE id = $2", bob.user_id, conversation_id
            )


async def test_without_an_acting_user_reads_return_nothing_and_writes_fail(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    someone = await make_user()
    await _fill(keep, someone.user_id)
    async with as_app(None) as conn:
        for table in USER_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with as_app(None) as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO conversations (user_id, id) VALUES ($1, $2)", someone.user_id, new_id()
            )


async def test_a_row_of_one_user_cannot_reference_a_row_of_another(
    keep: Keep, make_user: Any, as_app: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    bobs = await _fill(keep, bob.user_id)
    async with as_app(Principal.user(alice.user_id)) as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO messages (user_id, id, conversation_id, role, content)"
                " VALUES ($1, $2, $3, 'user', 'x')",
                alice.user_id,
                new_id(),
                bobs["conversation"].id,
            )
    own = await keep.conversations.create(alice.user_id)
    with pytest.raises(NotFound):
        await keep.messages.append(
            alice.user_id,
            own.id,
            NewMessage(role="user", content="reply", parent_message_id=bobs["message"].id),
        )
    with pytest.raises(NotFound):
        await keep.agent_sessions.create(
            alice.user_id, NewAgentSession(agent_type="assistant", user_session_id=bobs["user_session"].id)
        )
    assert (await keep.messages.latest(alice.user_id, own.id)) == []


async def test_the_sdk_gives_one_user_nothing_of_another(keep: Keep, make_user: Any) -> None:
    alice, bob = await make_user(), await make_user()
    bobs = await _fill(keep, bob.user_id)
    conversation, message = bobs["conversation"], bobs["message"]
    attempts = [
        keep.conversations.get(alice.user_id, conversation.id),
        keep.conversations.update(
            alice.user_id, conversation.id, ConversationUpdate(title="mine now", version=1)
        ),
        keep.conversations.delete(alice.user_id, conversation.id),
        keep.messages.get(alice.user_id, message.id),
        keep.messages.thread(alice.user_id, message.id),
        keep.messages.delete(alice.user_id, message.id),
        keep.messages.append(alice.user_id, conversation.id, NewMessage(role="user", content="intrusion")),
        keep.agent_sessions.get(alice.user_id, bobs["agent_session"].id),
        keep.agent_sessions.update(alice.user_id, bobs["agent_session"].id, AgentSessionUpdate(version=1)),
        keep.user_sessions.get(alice.user_id, bobs["user_session"].id),
        keep.access_keys.revoke(alice.user_id, bobs["key"].id),
        keep.decisions.get(alice.user_id, bobs["decision"].id),
        keep.decisions.set_feedback(
            alice.user_id, bobs["decision"].id, FeedbackChange(user_feedback="rejected")
        ),
        keep.onboarding.get(alice.user_id, bobs["agent_session"].id),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(NotFound):  # another user's conversation is not there, for listing too
        await keep.messages.latest(alice.user_id, conversation.id)
    assert (await keep.conversations.list(alice.user_id, archived=None)).items == []
    # Bob's rows are exactly as they were.
    assert (await keep.conversations.get(bob.user_id, conversation.id)).title == "secret"
    assert [m.content for m in await keep.messages.latest(bob.user_id, conversation.id)] == ["private"]
    assert (await keep.access_keys.list(bob.user_id))[0].revoked_at is None
    assert (await keep.decisions.list(alice.user_id)).items == []
    assert (await keep.decisions.get(bob.user_id, bobs["decision"].id)).user_feedback is None


async def test_catalogs_are_read_by_all_and_written_by_services_only(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    agent = await keep.agents.create(NewAgent(name=f"cat-{uuid.uuid4().hex[:8]}", persona_type="qa"))
    assert (await keep.agents.get(agent.id, actor=Principal.user(user.user_id))).name == agent.name
    with pytest.raises(Forbidden):
        await keep.agents.create(
            NewAgent(name="sneaky", persona_type="qa"), actor=Principal.user(user.user_id)
        )
    with pytest.raises(Forbidden):
        await keep.personas.create(
            NewPersona(persona_name="sneaky", persona_version="1", specialization="x"),
            actor=Principal.user(user.user_id),
        )
    assert "sneaky" not in [a.name for a in await keep.agents.list()]


async def test_a_pooled_connection_never_carries_the_acting_user_over(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    await keep.conversations.create(user.user_id)
    for _ in range(3):
        async with keep.database.transaction(Principal.service()) as tx:
            assert await tx.driver.fetchval("SELECT current_setting('agentkeep.user_id', true)") in (None, "")
            assert await tx.driver.fetchval("SELECT count(*) FROM conversations") == 0
