"""Seed 003 (Vromm AI Assistant) through the ``vromm`` compatibility schema.

003's own test query over ``ai_conversations`` (003:314-319) runs verbatim, as the application
role, for two users; so do reads by its indexes (003:113-114). Its other validation queries
read ``information_schema``/``pg_indexes``/``pg_policies`` of ``public`` (introspection, not
served) or tables of later capabilities (``user_ai_settings``, ``ai_usage_logs``).
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# 003:93-110, the columns of ai_conversations in the seed's order.
AI_CONVERSATIONS_COLUMNS = [
    "id",
    "user_id",
    "messages",
    "model_used",
    "tokens_used",
    "cost_usd",
    "created_at",
    "updated_at",
]

# 003:314-319, verbatim.
MOST_ACTIVE_USERS = """-- Most active users
SELECT user_id, COUNT(*) as conversation_count
FROM ai_conversations
GROUP BY user_id
ORDER BY conversation_count DESC
LIMIT 10;"""
# 003:113-114 `idx_ai_conversations_user_id ON ai_conversations(user_id)`,
# `idx_ai_conversations_created_at ON ai_conversations(created_at DESC)`
CONVERSATIONS_OF_USER = "SELECT * FROM ai_conversations WHERE user_id = $1 ORDER BY created_at DESC"
# 003:97 `-- Messages as JSONB array: [{role, content, timestamp}]`, 003:104-105 tokens and cost
USAGE_OF_CONVERSATION = (
    "SELECT jsonb_array_length(messages) AS message_count, tokens_used, cost_usd"
    " FROM ai_conversations WHERE id = $1"
)


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


async def test_ai_conversations_has_the_seed_columns_in_order(as_app: AsApp) -> None:
    assert await view_columns(as_app, "vromm", "ai_conversations") == AI_CONVERSATIONS_COLUMNS


async def test_most_active_users_shows_each_user_only_themselves(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "vromm", MOST_ACTIVE_USERS)
        # One live conversation; the soft-deleted one is not counted.
        assert [tuple(row) for row in rows] == [(person.user_id, 1)]
    assert await seed_query(as_app, None, "vromm", MOST_ACTIVE_USERS) == []


async def test_conversations_of_a_user_carry_the_messages_array(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        [row] = await seed_query(as_app, person.user_id, "vromm", CONVERSATIONS_OF_USER, person.user_id)
        assert list(row.keys()) == AI_CONVERSATIONS_COLUMNS
        assert row["id"] == person.conversation_id
        messages = json.loads(row["messages"])
        assert [(m["role"], m["content"]) for m in messages] == [
            ("user", f"hello from {person.email.split('-')[0]}"),
            ("assistant", f"hello {person.email.split('-')[0]}"),
        ]
        # ISO 8601 with an offset, as a JSON string.
        assert all(datetime.fromisoformat(m["timestamp"]).tzinfo is not None for m in messages)
        # No model on the conversation: the latest message's model (the seed's column is NOT NULL).
        assert row["model_used"] == "gpt-4o-mini"
        assert await seed_query(as_app, person.user_id, "vromm", CONVERSATIONS_OF_USER, other.user_id) == []
    assert await seed_query(as_app, None, "vromm", CONVERSATIONS_OF_USER, alice.user_id) == []


async def test_usage_of_one_conversation_and_never_a_deleted_one(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    [row] = await seed_query(as_app, alice.user_id, "vromm", USAGE_OF_CONVERSATION, alice.conversation_id)
    assert row["message_count"] == 2
    assert row["tokens_used"] >= 0
    assert await seed_query(as_app, bob.user_id, "vromm", USAGE_OF_CONVERSATION, alice.conversation_id) == []
    gone = await seed_query(
        as_app, alice.user_id, "vromm", USAGE_OF_CONVERSATION, alice.deleted_conversation_id
    )
    assert gone == []
    every = await seed_query(as_app, alice.user_id, "vromm", "SELECT id FROM ai_conversations")
    assert ids(every, "id") == {alice.conversation_id}
