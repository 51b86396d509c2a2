"""Shared helpers of the compatibility-schema tests (tests/test_compat_*.py).

``build_world`` writes, through the SDK (messages and persona activations as plain rows, see
below), what each seed's queries read: two users, each with a user session, a Kai session, a
running developer session with a persona activation, a conversation with a threaded reply, and a
soft-deleted conversation with a message. The shared catalogs get one agent and one persona.
``seed_query`` then runs a seed's SQL as the application role, acting for one user (or nobody),
with ``search_path`` set to the seed's compatibility schema: exactly what a client of that seed
does after pointing at agentkeep.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import sqlalchemy as sa

from agentkeep.agent_sessions.models import CostCharge, NewAgentSession, StatusChange
from agentkeep.agents.models import NewAgent
from agentkeep.conversations.models import NewConversation
from agentkeep.decisions.models import NewDecision, OnboardingChange
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.messages.tables import messages
from agentkeep.personas import repository as persona_repository
from agentkeep.personas.models import NewPersona
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession
from agentkeep.users.models import NewUser

AsApp = Callable[[Principal | None], AbstractAsyncContextManager[asyncpg.Connection]]
COMPAT_SCHEMAS = ("kai", "devassist", "agentic", "vromm", "othello")


@dataclass(frozen=True)
class Catalog:
    agent_id: uuid.UUID
    persona_id: uuid.UUID
    persona_name: str


@dataclass(frozen=True)
class Person:
    """One user's rows, by id."""

    user_id: uuid.UUID
    email: str
    user_session_id: uuid.UUID
    session_token: str
    kai_session_id: uuid.UUID
    kai_decision_id: uuid.UUID
    dev_decision_id: uuid.UUID
    dev_session_id: uuid.UUID
    activation_id: uuid.UUID
    conversation_id: uuid.UUID
    question_id: uuid.UUID
    reply_id: uuid.UUID
    deleted_conversation_id: uuid.UUID
    deleted_message_id: uuid.UUID
    token_cost: Decimal


@dataclass(frozen=True)
class World:
    catalog: Catalog
    alice: Person
    bob: Person

    @property
    def people(self) -> tuple[Person, Person]:
        return (self.alice, self.bob)


async def _add_message(
    keep: Keep, user_id: uuid.UUID, conversation_id: uuid.UUID, message: NewMessage
) -> uuid.UUID:
    """The messages row ``keep.messages.append`` writes, without its conversation bookkeeping.

    Not the SDK call itself: its statement cannot be planned by Citus ("could not create
    distributed plan") until the citus-fix work lands, and these tests read only the message.
    """
    values = {"user_id": user_id, "id": new_id(), "conversation_id": conversation_id, **message.model_dump()}
    async with keep.database.transaction(Principal.user(user_id)) as tx:
        await tx.conn.execute(sa.insert(messages).values(**values))
    return uuid.UUID(str(values["id"]))


async def _activate_persona(
    keep: Keep, user_id: uuid.UUID, agent_session_id: uuid.UUID, persona_id: uuid.UUID
) -> uuid.UUID:
    """The persona_activations row ``keep.personas.activate`` writes, without its second step.

    Not the SDK call itself: its update of ``personas_active`` (a CASE over a jsonb expression) is
    refused by Citus ("non-IMMUTABLE functions are not allowed in CASE or COALESCE") until the
    citus-fix work lands, and these tests read only the activation row.
    """
    values = {
        "user_id": user_id,
        "id": new_id(),
        "agent_session_id": agent_session_id,
        "persona_id": persona_id,
        "activation_trigger": "code review",
        "activation_context": {},
    }
    async with keep.database.transaction(Principal.user(user_id)) as tx:
        row = await persona_repository.insert_activation(tx.conn, values)
    return uuid.UUID(str(row["id"]))


async def _person(
    keep: Keep, catalog: Catalog, name: str, cost: Decimal, processing_mode: str, ticker: str
) -> Person:
    suffix = uuid.uuid4().hex[:10]
    user = await keep.users.create(
        NewUser(
            email=f"{name}-{suffix}@example.com",
            username=f"{name}_{suffix}",
            full_name=name.title(),
            password="correct horse battery",
        )
    )
    uid = user.user_id
    started = await keep.user_sessions.start(uid, NewUserSession(user_agent=f"{name}-browser"))
    kai = await keep.agent_sessions.create(uid, NewAgentSession(agent_type="kai"))
    await keep.onboarding.set(
        uid,
        kai.id,
        OnboardingChange(
            processing_mode=processing_mode, risk_profile="balanced", is_legal_acknowledged=True
        ),
    )
    kai_decision = await keep.decisions.create(
        uid,
        NewDecision(
            decision_type="buy",
            agent_session_id=kai.id,
            subject=ticker,
            decision_card={"ticker": ticker, "verdict": "buy"},
            confidence_score=Decimal("0.80"),
        ),
    )
    dev = await keep.agent_sessions.create(
        uid,
        NewAgentSession(
            agent_type="developer", agent_id=catalog.agent_id, user_session_id=started.session.id
        ),
    )
    for status in ("approved", "running"):
        await keep.agent_sessions.transition(uid, dev.id, StatusChange(status=status))
    await keep.agent_sessions.charge(uid, dev.id, CostCharge(amount=cost))
    activation_id = await _activate_persona(keep, uid, dev.id, catalog.persona_id)
    dev_decision = await keep.decisions.create(
        uid,
        NewDecision(
            decision_type="code_generation",
            agent_session_id=dev.id,
            input_context={"task": f"{name}'s task"},
            action_taken={"files": 2},
            confidence_score=Decimal("0.55"),
            execution_time_ms=1200,
        ),
    )
    chat = await keep.conversations.create(
        uid, NewConversation(title=f"{name}'s chat", agent_session_id=dev.id, agent_id=catalog.agent_id)
    )
    question = await _add_message(
        keep, uid, chat.id, NewMessage(role="user", content=f"hello from {name}", agent_session_id=dev.id)
    )
    reply = await _add_message(
        keep,
        uid,
        chat.id,
        NewMessage(
            role="assistant",
            content=f"hello {name}",
            parent_message_id=question,
            agent_session_id=dev.id,
            agent_name="FELLO",
            token_count=7,
            model_used="gpt-4o-mini",
        ),
    )
    gone = await keep.conversations.create(uid, NewConversation(title="deleted"))
    gone_message = await _add_message(keep, uid, gone.id, NewMessage(role="user", content="forget me"))
    await keep.conversations.delete(uid, gone.id)
    return Person(
        user_id=uid,
        email=user.email,
        user_session_id=started.session.id,
        session_token=started.token,
        kai_session_id=kai.id,
        kai_decision_id=kai_decision.id,
        dev_decision_id=dev_decision.id,
        dev_session_id=dev.id,
        activation_id=activation_id,
        conversation_id=chat.id,
        question_id=question,
        reply_id=reply,
        deleted_conversation_id=gone.id,
        deleted_message_id=gone_message,
        token_cost=cost,
    )


async def build_world(keep: Keep) -> World:
    suffix = uuid.uuid4().hex[:10]
    agent = await keep.agents.create(NewAgent(name=f"compat-dev-{suffix}", persona_type="developer"))
    persona = await keep.personas.create(
        NewPersona(persona_name=f"compat-reviewer-{suffix}", persona_version="1.0", specialization="review")
    )
    catalog = Catalog(agent_id=agent.id, persona_id=persona.id, persona_name=persona.persona_name)
    alice = await _person(keep, catalog, "alice", Decimal("1.5000"), "hybrid", "NVDA")
    bob = await _person(keep, catalog, "bob", Decimal("0.2500"), "on_device", "AMD")
    return World(catalog=catalog, alice=alice, bob=bob)


async def seed_query(
    as_app: AsApp, user_id: uuid.UUID | None, schema: str, sql: str, *args: Any
) -> list[asyncpg.Record]:
    """Run a seed's ``sql`` as the application role for ``user_id`` (None: nobody) in ``schema``."""
    assert schema in COMPAT_SCHEMAS
    async with as_app(Principal.user(user_id) if user_id else None) as conn:
        await conn.execute(f"SET LOCAL search_path = {schema}")
        return await conn.fetch(sql, *args)


async def view_columns(as_app: AsApp, schema: str, view: str) -> list[str]:
    """The columns of ``schema.view`` in order, as the application role sees them."""
    async with as_app(None) as conn:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            schema,
            view,
        )
    return [row["column_name"] for row in rows]


def ids(rows: list[asyncpg.Record], column: str) -> set[uuid.UUID]:
    return {row[column] for row in rows}


# 001:377-388 the query of the view user_activity_summary, run on its own
USER_ACTIVITY_SUMMARY_BODY = """SELECT
    u.user_id,
    u.username,
    u.last_active_at,
    COUNT(a.agent_session_id) as total_sessions,
    SUM(a.token_cost) as total_cost,
    AVG(a.token_cost) as avg_cost_per_session,
    MAX(a.created_at) as last_session_at
FROM users u
LEFT JOIN agent_sessions a ON u.user_id = a.user_id
WHERE u.is_active = true
GROUP BY u.user_id, u.username, u.last_active_at;"""
