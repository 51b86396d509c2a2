"""Retention over rows that refer to each other: othello's messages and conversations (004),
reply threads, and rows a cascading foreign key would take with their parent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agentkeep.ids import new_id
from retention_support import (
    Scratch,
    agent_session,
    ago,
    archived_rows,
    conversation,
    message,
    scratch_database,
)


@pytest.fixture
async def othello(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "othello"):
        yield made


@pytest.fixture
async def devassist(database_factory: Any, tmp_path: Path) -> AsyncIterator[Scratch]:
    async for made in scratch_database(database_factory, tmp_path / "archive", "devassist"):
        yield made


async def test_othello_archives_old_conversations_after_their_messages(othello: Scratch) -> None:
    user_id = await othello.new_user()
    stale = conversation(created_at=ago(years=2), updated_at=ago(years=2))
    live = conversation(created_at=ago(years=2), updated_at=ago(days=1))
    stale_messages = [message(stale[1]["id"], ago(years=2, days=day)) for day in range(3)]
    live_old = message(live[1]["id"], ago(years=2))
    live_new = message(live[1]["id"], ago(days=1))
    await othello.write(user_id, [stale, live, *stale_messages, live_old, live_new])

    summary = await othello.service().run()
    deleted = {result.table: result.deleted for result in summary.tables}
    # Messages first (children), then the conversation none of whose messages is left.
    assert [result.table for result in summary.tables] == ["messages", "conversations"]
    assert deleted == {"messages": 4, "conversations": 1}
    assert await othello.ids("conversations") == {live[1]["id"]}
    assert await othello.ids("messages") == {live_new[1]["id"]}
    archived = {uuid.UUID(row["id"]): row for row in archived_rows(summary.archive_folder, "messages")}
    expected = {row[1]["id"]: row[1] for row in [*stale_messages, live_old]}
    assert set(archived) == set(expected)
    assert all(archived[key]["content"] == expected[key]["content"] for key in expected)
    assert [uuid.UUID(row["id"]) for row in archived_rows(summary.archive_folder, "conversations")] == [
        stale[1]["id"]
    ]


async def test_a_reply_thread_goes_only_as_far_as_no_kept_reply_points_into_it(othello: Scratch) -> None:
    user_id = await othello.new_user()
    chat = conversation(created_at=ago(years=2), updated_at=ago(days=1))
    chat_id = chat[1]["id"]
    root = message(chat_id, ago(years=2, days=5))
    reply = message(chat_id, ago(years=2, days=4), parent_message_id=root[1]["id"])
    recent_reply = message(chat_id, ago(days=1), parent_message_id=reply[1]["id"])
    other_root = message(chat_id, ago(years=2, days=3))
    other_reply = message(chat_id, ago(years=2, days=2), parent_message_id=other_root[1]["id"])
    await othello.write(user_id, [chat, root, reply, recent_reply, other_root, other_reply])

    before = await othello.counts()
    dry = await othello.service().run(dry_run=True)
    assert {r.table: r.due for r in dry.tables} == {"messages": 2, "conversations": 0}
    assert await othello.counts() == before

    summary = await othello.service().run()
    # root and reply are kept: a recent reply still points at reply, which points at root.
    assert await othello.ids("messages") == {root[1]["id"], reply[1]["id"], recent_reply[1]["id"]}
    archived = {uuid.UUID(row["id"]) for row in archived_rows(summary.archive_folder, "messages")}
    assert archived == {other_root[1]["id"], other_reply[1]["id"]}


async def test_persona_activations_are_archived_and_deleted_with_their_agent_session(
    devassist: Scratch,
) -> None:
    user_id = await devassist.new_user()
    done = agent_session(status="completed", completed=ago(years=2))
    persona_id = new_id()
    conn = await devassist.owner()
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL agentkeep.principal = 'service'")
            await conn.execute(
                "INSERT INTO personas (id, persona_name, persona_version, specialization) "
                "VALUES ($1, 'Retention tester', '1.0', 'tests')",
                persona_id,
            )
    finally:
        await conn.close()
    activation_id = new_id()
    activation = (
        "persona_activations",
        {
            "id": activation_id,
            "agent_session_id": done[1]["id"],
            "persona_id": persona_id,
            "activation_trigger": "crisis",
            "created_at": ago(years=2),
        },
    )
    # The session's decision and onboarding answers go with it too (revision 0010), archived first.
    decision_id = new_id()
    decision = (
        "decisions",
        {"id": decision_id, "agent_session_id": done[1]["id"], "decision_type": "review"},
    )
    answers = ("onboarding_answers", {"agent_session_id": done[1]["id"], "processing_mode": "hybrid"})
    await devassist.write(user_id, [done, activation, decision, answers])
    summary = await devassist.service().run()
    [result] = [r for r in summary.tables if r.table == "agent_sessions"]
    # Every table whose rows cascade with a session is a dependent, with or without rows.
    assert (result.deleted, result.dependents) == (
        1,
        {"persona_activations": 1, "decisions": 1, "onboarding_answers": 1, "trust_metrics": 0},
    )
    assert await devassist.ids("persona_activations") == set()
    assert await devassist.ids("decisions") == set()
    [archived_decision] = archived_rows(summary.archive_folder, "decisions")
    assert uuid.UUID(archived_decision["id"]) == decision_id
    [row] = archived_rows(summary.archive_folder, "persona_activations")
    assert uuid.UUID(row["id"]) == activation_id
    assert row["activation_trigger"] == "crisis"
