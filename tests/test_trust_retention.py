"""Trust under a profile: seed 002's "trust metrics: aggregate after 30 days" run by ``retention
run`` (archive the raw rows, one aggregate row per day, delete), and the profile's own promotion
and demotion rules applied by the database. Each test has a database of its own (a profile is
applied there; retention runs across all users)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.service import ProfileService
from agentkeep.settings import load_settings
from retention_support import Scratch, agent_session, ago, archived_rows, scratch_database
from trust_support import agent, decide, session


@pytest.fixture
async def scratch(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "agentic"):
        yield made


def _metric(session_id: uuid.UUID, agent_id: uuid.UUID, value: str, at: Any, kind: str = "accuracy") -> Any:
    values = {
        "id": new_id(),
        "agent_session_id": session_id,
        "agent_id": agent_id,
        "metric_type": kind,
        "metric_value": Decimal(value),
        "recorded_at": at,
        "created_at": at,
        "updated_at": at,
    }
    return "trust_metrics", values


async def test_retention_rolls_trust_metrics_older_than_30_days_into_one_row_per_day(
    scratch: Scratch,
) -> None:
    keep = Keep(scratch.database, load_settings())
    agent_id = await agent(keep)
    user_id = await scratch.new_user()
    run = new_id()
    day = ago(days=40).replace(hour=10, minute=0, second=0, microsecond=0)
    await scratch.write(
        user_id,
        [
            agent_session(status="completed", completed=ago(days=1), id=run, agent_id=agent_id),
            _metric(run, agent_id, "20", day),
            _metric(run, agent_id, "40", day.replace(hour=11)),
            _metric(run, agent_id, "90", day.replace(hour=12)),
            _metric(run, agent_id, "50", day.replace(hour=13), kind="autonomy"),
            _metric(run, agent_id, "70", ago(days=35)),
            _metric(run, agent_id, "80", ago(days=2)),  # recent: kept as it is
        ],
    )
    summary = await scratch.service().run()
    [result] = [r for r in summary.tables if r.table == "trust_metrics"]
    assert (result.due, result.archived, result.deleted, result.aggregated) == (5, 5, 5, 3)
    assert sorted(
        Decimal(str(row["metric_value"])) for row in archived_rows(summary.archive_folder, "trust_metrics")
    ) == [Decimal("20"), Decimal("40"), Decimal("50"), Decimal("70"), Decimal("90")]
    metrics = await keep.trust.metrics(user_id, agent_id, limit=200)
    raw = [m for m in metrics if not m.is_aggregate]
    assert [m.metric_value for m in raw] == [Decimal("80.00")]
    by_day = {(m.recorded_at.date(), m.metric_type): m for m in metrics if m.is_aggregate}
    accuracy = by_day[(day.date(), "accuracy")]
    assert (accuracy.metric_value, accuracy.sample_count, accuracy.agent_session_id) == (
        Decimal("50.00"),
        3,
        run,
    )
    assert accuracy.measurement_context["aggregate"]["min"] == 20
    assert accuracy.measurement_context["aggregate"]["last"] == 90
    assert by_day[(day.date(), "autonomy")].sample_count == 1
    assert len(by_day) == 3
    # Aggregates are never due again: a second run finds nothing.
    again = await scratch.service().run()
    assert [r.due for r in again.tables if r.table == "trust_metrics"] == [0]


async def test_the_profiles_rules_are_what_the_database_applies(scratch: Scratch, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text(
        'schema_version = 1\nname = "strict"\nversion = "1.0.0"\ntitle = "strict"\ndescription = "t"\n'
        'extends = "agentic"\nprovenance = {}\n'
        "[trust]\npromotion_after_successes = 2\npromotion_min_success_rate = 1\n"
        "demotion_after_rejections = 1\nmax_earned_level = 2\n"
    )
    await ProfileService(scratch.database).apply(load_profile(str(strict)))
    keep = Keep(scratch.database, load_settings())
    user_id = await scratch.new_user()
    agent_id = await agent(keep)
    run = await session(keep, user_id, agent_id)
    for _ in range(2):
        await decide(keep, user_id, run, "approved")
    assert (await keep.trust.show(user_id, agent_id)).level == 1
    for _ in range(6):
        await decide(keep, user_id, run, "approved")
    assert (await keep.trust.show(user_id, agent_id)).level == 2  # max_earned_level
    await decide(keep, user_id, run, "rejected")  # one rejection is enough here
    assert (await keep.trust.show(user_id, agent_id)).level == 1
    changes = (await keep.trust.history(user_id, agent_id)).items
    assert [(c.rule, c.to_level) for c in changes] == [
        ("rejection_streak", 1),
        ("promotion", 2),
        ("promotion", 1),
    ]
    assert "promotion_after_successes = 2" in changes[-1].reason
    assert changes[0].reason.startswith("1 consecutive rejections")
