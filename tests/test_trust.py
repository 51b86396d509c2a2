"""Trust earned from decision outcomes (seed 002): the scenario, promotion, demotion, the
session's trust_level following the (user, agent) level, history with reasons, raw SQL as the
application role, and two outcomes at once (docs/trust.md).

The shared test database has no profile applied: default.toml's rules hold (promote after 5
approvals at 80% with no rejection in the last 5; demote after 3 consecutive rejections).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from decimal import Decimal

import asyncpg
import pytest

from agentkeep.activities.models import NewActivity, NewEthicalValidation
from agentkeep.errors import InvalidInput, NotFound
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.trust.models import Demotion
from trust_support import agent, decide, session


async def _levels(keep: Keep, user_id: uuid.UUID, session_id: uuid.UUID) -> int:
    return (await keep.agent_sessions.get(user_id, session_id)).trust_level


async def test_seed_002_five_successful_decisions_raise_confidence_in_the_trust_metrics(
    keep: Keep, make_user, as_app
) -> None:
    """002: Given an agent with trust level 0, when it makes 5 successful decisions, then the
    trust metrics reflect increased confidence."""
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    assert (await keep.trust.show(user.user_id, agent_id)).level == 0
    for _ in range(5):
        await decide(keep, user.user_id, run, "approved")
    async with as_app(Principal.user(user.user_id)) as conn:
        rows = await conn.fetch(
            "SELECT metric_type, metric_value FROM agentic.trust_metrics WHERE session_id = $1"
            " ORDER BY recorded_at, metric_id",
            run,
        )
    accuracy = [row["metric_value"] for row in rows if row["metric_type"] == "accuracy"]
    autonomy = [row["metric_value"] for row in rows if row["metric_type"] == "autonomy"]
    assert len(accuracy) == len(autonomy) == 5
    # Each success raises both: accuracy at 95% confidence, and autonomy earned.
    assert all(later > earlier for earlier, later in itertools.pairwise(accuracy))
    assert all(later > earlier for earlier, later in itertools.pairwise(autonomy))
    assert accuracy[0] == Decimal("20.65") and accuracy[-1] == Decimal("56.55")
    assert autonomy == [
        Decimal("5.00"),
        Decimal("10.00"),
        Decimal("15.00"),
        Decimal("20.00"),
        Decimal("25.00"),
    ]
    shown = await keep.trust.show(user.user_id, agent_id)
    assert (shown.level, shown.has_record, shown.outcomes, shown.approved) == (1, True, 5, 5)
    assert await _levels(keep, user.user_id, run) == 1


async def test_promotion_needs_the_rules_n_approvals_and_is_recorded_with_its_reason(
    keep: Keep, make_user
) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    decisions = [await decide(keep, user.user_id, run, "approved") for _ in range(4)]
    assert (await keep.trust.show(user.user_id, agent_id)).level == 0
    assert (await keep.trust.history(user.user_id, agent_id)).items == []
    decisions.append(await decide(keep, user.user_id, run, "approved"))
    history = (await keep.trust.history(user.user_id, agent_id)).items
    assert [(c.from_level, c.to_level, c.rule, c.decision_id) for c in history] == [
        (0, 1, "promotion", decisions[-1])
    ]
    assert "5 of 5 decisions approved at level 0" in history[0].reason
    # The next level needs five more approvals at level 1.
    for _ in range(4):
        await decide(keep, user.user_id, run, "approved")
    assert (await keep.trust.show(user.user_id, agent_id)).level == 1
    await decide(keep, user.user_id, run, "approved")
    assert (await keep.trust.show(user.user_id, agent_id)).level == 2


async def test_a_recent_rejection_or_a_low_rate_holds_promotion_back(keep: Keep, make_user) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    for feedback in ["approved", "approved", "rejected", "approved", "approved", "approved"]:
        await decide(keep, user.user_id, run, feedback)
    shown = await keep.trust.show(user.user_id, agent_id)
    # 5 approvals of 6 (83%), but a rejection among the last 5 outcomes.
    assert (shown.level, shown.level_approved, shown.since_rejection) == (0, 5, 3)
    await decide(keep, user.user_id, run, "approved")
    assert (await keep.trust.show(user.user_id, agent_id)).level == 0
    await decide(keep, user.user_id, run, "approved")  # the last 5 hold no rejection now
    shown = await keep.trust.show(user.user_id, agent_id)
    assert (shown.level, shown.approved, shown.rejected, shown.outcomes) == (1, 7, 1, 8)
    # A rate under 80% holds it back too ('modified' is an outcome, not a success).
    other = await agent(keep)
    run = await session(keep, user.user_id, other)
    for feedback in ["modified", "modified", *["approved"] * 7]:
        await decide(keep, user.user_id, run, feedback)
    shown = await keep.trust.show(user.user_id, other)
    assert (shown.level, shown.approved, shown.modified, shown.outcomes) == (0, 7, 2, 9)  # 77.8%
    await decide(keep, user.user_id, run, "approved")  # 8 of 10
    assert (await keep.trust.show(user.user_id, other)).level == 1


async def test_consecutive_rejections_demote_and_the_sessions_follow(keep: Keep, make_user) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    first = await session(keep, user.user_id, agent_id)
    for _ in range(5):
        await decide(keep, user.user_id, first, "approved")
    second = await session(keep, user.user_id, agent_id, trust_level=4)
    assert await _levels(keep, user.user_id, second) == 1  # a new session takes the earned level
    await decide(keep, user.user_id, second, "rejected")
    await decide(keep, user.user_id, second, "rejected")
    assert (await keep.trust.show(user.user_id, agent_id)).level == 1
    demoting = await decide(keep, user.user_id, second, "rejected")
    shown = await keep.trust.show(user.user_id, agent_id)
    assert (shown.level, shown.rejection_streak) == (0, 0)
    assert await _levels(keep, user.user_id, first) == 0
    assert await _levels(keep, user.user_id, second) == 0
    latest = (await keep.trust.history(user.user_id, agent_id)).items[0]
    assert (latest.from_level, latest.to_level, latest.rule, latest.decision_id) == (
        1,
        0,
        "rejection_streak",
        demoting,
    )
    assert latest.reason.startswith("3 consecutive rejections")


async def test_the_ethics_hook_demotes_with_its_reason(keep: Keep, make_user, as_app) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    for _ in range(5):
        await decide(keep, user.user_id, run, "approved")
    shown = await keep.trust.demote(user.user_id, agent_id, Demotion(reason="ethical validation blocked"))
    assert shown.level == 0
    assert await _levels(keep, user.user_id, run) == 0
    change = (await keep.trust.history(user.user_id, agent_id)).items[0]
    assert (change.rule, change.reason, change.to_level) == ("ethical_block", "ethical validation blocked", 0)
    # At level 0 there is nowhere lower: nothing more is recorded. Raw SQL calls the same hook.
    async with as_app(Principal.user(user.user_id)) as conn:
        assert (
            await conn.fetchval("SELECT trust_demote($1, $2, 'blocked again')", user.user_id, agent_id) == 0
        )
        assert await conn.fetchval("SELECT count(*) FROM agent_trust_changes") == 2
        with pytest.raises(asyncpg.InvalidParameterValueError, match="reason"):
            async with conn.transaction():
                await conn.fetchval("SELECT trust_demote($1, $2, '')", user.user_id, agent_id)


async def test_raw_sql_feedback_as_the_app_role_updates_trust(keep: Keep, make_user, as_app) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    ids = [await decide(keep, user.user_id, run, None) for _ in range(5)]
    async with as_app(Principal.user(user.user_id)) as conn:
        await conn.execute(
            "UPDATE decisions SET user_feedback = 'approved', feedback_by = 'user', feedback_at = now()"
            " WHERE id = ANY($1::uuid[])",
            ids,
        )
        row = await conn.fetchrow(
            "SELECT level, approved, outcomes FROM agent_trust_levels WHERE agent_id = $1", agent_id
        )
        assert dict(row) == {"level": 1, "approved": 5, "outcomes": 5}
        assert await conn.fetchval("SELECT trust_level FROM agent_sessions WHERE id = $1", run) == 1
        # Changing a verdict moves the counts; the earned level is history and stays.
        await conn.execute("UPDATE decisions SET user_feedback = 'modified' WHERE id = $1", ids[0])
        row = await conn.fetchrow(
            "SELECT approved, modified, outcomes FROM agent_trust_levels WHERE agent_id = $1", agent_id
        )
        assert dict(row) == {"approved": 4, "modified": 1, "outcomes": 5}
        # The earned record itself is not the application's to write.
        for statement in ("UPDATE agent_trust_levels SET level = 4", "DELETE FROM agent_trust_changes"):
            with pytest.raises(
                asyncpg.InsufficientPrivilegeError, match="written only by the trust functions"
            ):
                async with conn.transaction():  # a savepoint
                    await conn.execute(statement)
        # Nor may it forge a promotion into the history (only a demotion request is taken).
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="written only by the trust functions"):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO agent_trust_changes (user_id, id, agent_id, from_level, to_level, rule,"
                    " reason) VALUES ($1, $2, $3, 1, 4, 'promotion', 'trust me')",
                    user.user_id,
                    uuid.uuid4(),
                    agent_id,
                )
        # Nor is a session's level: it follows the earned one.
        await conn.execute("UPDATE agent_sessions SET trust_level = 4 WHERE id = $1", run)
        assert await conn.fetchval("SELECT trust_level FROM agent_sessions WHERE id = $1", run) == 1


async def test_two_outcomes_at_once_leave_consistent_counters(keep: Keep, make_user) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    ids = [await decide(keep, user.user_id, run, None) for _ in range(10)]
    from agentkeep.decisions.models import FeedbackChange

    async def verdict(decision_id: uuid.UUID, feedback: str) -> None:
        await keep.decisions.set_feedback(user.user_id, decision_id, FeedbackChange(user_feedback=feedback))

    for pair in range(5):
        await asyncio.gather(verdict(ids[2 * pair], "approved"), verdict(ids[2 * pair + 1], "approved"))
    shown = await keep.trust.show(user.user_id, agent_id)
    assert (shown.outcomes, shown.approved, shown.since_rejection) == (10, 10, 10)
    assert shown.level == 2  # promoted at the 5th and the 10th approval, each once
    assert [c.to_level for c in (await keep.trust.history(user.user_id, agent_id)).items] == [2, 1]
    metrics = await keep.trust.metrics(user.user_id, agent_id, metric_type="accuracy", limit=200)
    assert sorted(m.measurement_context["outcomes"] for m in metrics) == list(range(1, 11))


async def test_decisions_without_an_agent_earn_nothing_and_bad_input_names_the_field(
    keep: Keep, make_user
) -> None:
    user = await make_user()
    await decide(
        keep, user.user_id, (await keep.agent_sessions.create(user.user_id, _anonymous())).id, "approved"
    )
    agent_id = await agent(keep)
    shown = await keep.trust.show(user.user_id, agent_id)
    assert (shown.has_record, shown.level, shown.outcomes) == (False, 0, 0)
    with pytest.raises(NotFound) as missing:
        await keep.trust.show(user.user_id, uuid.uuid4())
    assert missing.value.field == "agent_id"
    with pytest.raises(InvalidInput) as limit:
        await keep.trust.history(user.user_id, agent_id, limit=0)
    assert limit.value.field == "limit"


def _anonymous():  # type: ignore[no-untyped-def]
    from agentkeep.agent_sessions.models import NewAgentSession

    return NewAgentSession(agent_type="developer")


async def test_tenancy_one_user_sees_nothing_of_anothers_trust(keep: Keep, make_user, as_app) -> None:
    alice, bob = await make_user(), await make_user()
    agent_id = await agent(keep)
    run = await session(keep, alice.user_id, agent_id)
    for _ in range(5):
        await decide(keep, alice.user_id, run, "approved")
    assert (await keep.trust.show(bob.user_id, agent_id)).has_record is False
    assert (await keep.trust.history(bob.user_id, agent_id)).items == []
    assert await keep.trust.metrics(bob.user_id, agent_id) == []
    async with as_app(Principal.user(bob.user_id)) as conn:
        for table in ("agent_trust_levels", "agent_trust_changes", "trust_metrics"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE user_id = $1", alice.user_id) == 0
        # Bob cannot demote Alice's agent: her row is not his to see or write.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT trust_demote($1, $2, 'not mine')", alice.user_id, agent_id)
    assert (await keep.trust.show(alice.user_id, agent_id)).level == 1


async def test_trust_metrics_check_each_seed_types_range_and_the_vocabulary(
    keep: Keep, make_user, as_app
) -> None:
    """002 QA: CHECK constraints for metric_value ranges per metric_type (percentages, 0-100)."""
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    insert = (
        "INSERT INTO trust_metrics (user_id, id, agent_session_id, agent_id, metric_type, metric_value)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
    )
    async with as_app(Principal.user(user.user_id)) as conn:
        # The application records its own measurements too (e.g. complexity).
        await conn.execute(insert, user.user_id, uuid.uuid4(), run, agent_id, "complexity", Decimal("42.5"))
        for kind, value, error in [
            ("accuracy", Decimal("100.01"), "ck_trust_metrics_metric_value_range"),
            ("autonomy", Decimal("-1"), "ck_trust_metrics_metric_value_range"),
            ("speed", Decimal("1"), "vk_trust_metrics_metric_type"),
        ]:
            with pytest.raises(asyncpg.CheckViolationError, match=error):
                async with conn.transaction():
                    await conn.execute(insert, user.user_id, uuid.uuid4(), run, agent_id, kind, value)
        row = await conn.fetchrow(
            "SELECT metric_id, session_id, metric_type, metric_value, measurement_context, recorded_at"
            " FROM agentic.trust_metrics"
        )
    assert (row["session_id"], row["metric_type"], row["metric_value"]) == (
        run,
        "complexity",
        Decimal("42.50"),
    )
    assert row["measurement_context"] == "{}" and row["recorded_at"] is not None


async def test_deleting_the_user_takes_their_trust_with_them(keep: Keep, make_user, as_app) -> None:
    """Erasing a user (the row itself, as retention's erasure does) cascades to their trust: the
    cascade runs as the tables' owner, so the write guard lets it through."""
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    for _ in range(5):
        await decide(keep, user.user_id, run, "approved")
    async with as_app(Principal.user(user.user_id)) as conn:
        assert await conn.fetchval("SELECT count(*) FROM agent_trust_changes") == 1
        await conn.execute("DELETE FROM users WHERE user_id = $1", user.user_id)
        for table in ("agent_trust_levels", "agent_trust_changes", "trust_metrics"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_a_blocked_ethical_validation_of_an_activity_demotes_its_agent(keep: Keep, make_user) -> None:
    user = await make_user()
    agent_id = await agent(keep)
    run = await session(keep, user.user_id, agent_id)
    for _ in range(5):
        await decide(keep, user.user_id, run, "approved")
    earned = (await keep.trust.show(user.user_id, agent_id)).level
    assert earned >= 1
    activity = await keep.activities.propose(
        user.user_id,
        NewActivity(agent_name="bench", activity_type="intervention", title="risky", agent_session_id=run),
    )
    await keep.activities.validate(
        user.user_id, NewEthicalValidation(result="flagged", agent_activity_id=activity.id)
    )
    assert (await keep.trust.show(user.user_id, agent_id)).level == earned  # flagged: no change
    await keep.activities.validate(
        user.user_id, NewEthicalValidation(result="blocked", agent_activity_id=activity.id)
    )
    assert (await keep.trust.show(user.user_id, agent_id)).level == earned - 1
    assert await _levels(keep, user.user_id, run) == earned - 1
    change = (await keep.trust.history(user.user_id, agent_id)).items[0]
    assert change.rule == "ethical_block" and str(activity.id) in change.reason
