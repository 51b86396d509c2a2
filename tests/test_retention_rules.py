"""Retention rules as profile data: validated, planned children first, declared hooks noted."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from agentkeep.database.engine import Database
from agentkeep.errors import AgentkeepError
from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.model import Profile
from agentkeep.retention.rules import Plan, RetentionRuleError, plan


def _with_rules(tmp_path: Path, rules: str) -> Profile:
    file = tmp_path / "custom.toml"
    file.write_text(f'schema_version = 1\nname = "custom"\nversion = "1.0.0"\nextends = "default"\n{rules}')
    return load_profile(str(file)).profile


async def _plan(database: Database, profile: Profile) -> Plan:
    async with database.owner_transaction() as conn:
        await conn.execute(sa.text("SET LOCAL agentkeep.principal = 'operator'"))
        return await plan(conn, profile)


def test_a_rule_for_an_unknown_table_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(AgentkeepError) as refused:
        _with_rules(tmp_path, '[retention.rules.chat_logs]\nactive = "P1Y"\n')
    assert "retention.rules.chat_logs" in refused.value.detail
    assert "custom.toml" in refused.value.detail


def test_a_bad_period_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(AgentkeepError) as refused:
        _with_rules(tmp_path, '[retention.rules.messages]\nactive = "90 days"\n')
    assert "retention.rules.messages.active" in refused.value.detail


async def test_a_rule_on_a_column_the_table_lacks_is_refused_naming_the_key(
    database: Database, tmp_path: Path
) -> None:
    profile = _with_rules(
        tmp_path, '[retention.rules.messages]\nactive = "P1Y"\nmeasured_from = "ended_at"\n'
    )
    with pytest.raises(RetentionRuleError) as refused:
        await _plan(database, profile)
    assert (
        refused.value.detail
        == "retention.rules.messages.measured_from: table messages has no column ended_at"
    )
    profile = _with_rules(tmp_path, '[retention.rules.messages]\nactive = "P1Y"\nonly_status = ["done"]\n')
    with pytest.raises(RetentionRuleError) as refused:
        await _plan(database, profile)
    assert refused.value.detail == "retention.rules.messages.only_status: table messages has no column status"


async def test_the_shipped_profiles_plan_children_first_and_note_what_waits(database: Database) -> None:
    devassist = await _plan(database, load_profile("devassist").profile)
    # Governance events (revision 0012) first: they refer to the agent sessions.
    assert [rule.table for rule in devassist.rules] == [
        "governance_events",
        "agent_sessions",
        "user_sessions",
    ]
    assert devassist.notes == ()
    agentic = await _plan(database, load_profile("agentic").profile)
    assert [(rule.table, rule.active, rule.archived) for rule in agentic.rules] == [
        ("messages", "P90D", "P1Y"),
        ("decisions", "P6M", "P2Y"),  # revision 0010 made the table
        ("trust_metrics", "P30D", None),  # revision 0014: aggregated (tests/test_trust_retention.py)
    ]
    notes = "\n".join(agentic.notes)
    assert "retention.rules.decisions" not in notes
    assert "retention.rules.trust_metrics" not in notes
    # The audit trail is kept: it refuses every delete (revision 0005).
    assert "retention.rules.audit_log: kept: the audit trail is append-only" in notes
    othello = await _plan(database, load_profile("othello").profile)
    assert [(r.table, r.age_column) for r in othello.rules] == [
        ("messages", "created_at"),
        ("conversations", "updated_at"),
    ]
    assert (await _plan(database, load_profile("default").profile)).rules == ()
