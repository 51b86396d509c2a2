"""Helpers for the trust tests: an agent, a session of it for a user, decisions with feedback."""

from __future__ import annotations

import uuid

from agentkeep.agent_sessions.models import NewAgentSession
from agentkeep.agents.models import NewAgent
from agentkeep.decisions.models import FeedbackChange, NewDecision
from agentkeep.keep import Keep


async def agent(keep: Keep) -> uuid.UUID:
    made = await keep.agents.create(NewAgent(name=f"trust-{uuid.uuid4().hex[:10]}", persona_type="developer"))
    return made.id


async def session(keep: Keep, user_id: uuid.UUID, agent_id: uuid.UUID, *, trust_level: int = 0) -> uuid.UUID:
    made = await keep.agent_sessions.create(
        user_id, NewAgentSession(agent_type="developer", agent_id=agent_id, trust_level=trust_level)
    )
    return made.id


async def decide(keep: Keep, user_id: uuid.UUID, session_id: uuid.UUID, feedback: str | None) -> uuid.UUID:
    """One decision of the session, with ``feedback`` recorded (none: left without an outcome)."""
    made = await keep.decisions.create(
        user_id, NewDecision(decision_type="code_generation", agent_session_id=session_id)
    )
    if feedback is not None:
        await keep.decisions.set_feedback(user_id, made.id, FeedbackChange(user_feedback=feedback))
    return made.id
