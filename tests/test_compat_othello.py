"""Seed 004 (OthelloMini) through the ``othello`` compatibility schema.

004 writes no SELECT of its own: the queries are those its indexes are for (004:58-60, 99-101,
123-126, 301-303), spelled with the seed's table and column names, run as the application role
for two users. Ids are UUIDs here, not BIGSERIAL.
"""

from __future__ import annotations

import hashlib

import pytest

from agentkeep.keep import Keep
from compat_helpers import AsApp, World, build_world, ids, seed_query, view_columns

# The seed's columns, in its order: 004:44-56, 004:88-97, 004:109-121, 004:289-299.
COLUMNS = {
    "users": [
        "id",
        "external_id",
        "email",
        "username",
        "password_hash",
        "full_name",
        "timezone",
        "is_active",
        "created_at",
        "updated_at",
        "deleted_at",
    ],
    "conversations": [
        "id",
        "user_id",
        "title",
        "is_archived",
        "metadata",
        "created_at",
        "updated_at",
        "deleted_at",
    ],
    "messages": [
        "id",
        "conversation_id",
        "user_id",
        "role",
        "content",
        "agent_name",
        "reasoning_trace",
        "ethical_validation",
        "token_count",
        "created_at",
        "updated_at",
    ],
    "session_logs": [
        "id",
        "user_id",
        "session_token",
        "ip_address",
        "user_agent",
        "login_at",
        "last_activity_at",
        "logout_at",
        "is_active",
    ],
}

# 004:58 `CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL;`
USER_BY_EMAIL = "SELECT * FROM users WHERE email = $1 AND deleted_at IS NULL"
# 004:59 `CREATE INDEX idx_users_external_id ON users(external_id);`
USER_BY_EXTERNAL_ID = "SELECT * FROM users WHERE external_id = $1"
# 004:99 `CREATE INDEX idx_conversations_user ON conversations(user_id) WHERE deleted_at IS NULL;`
CONVERSATIONS_OF_USER = "SELECT * FROM conversations WHERE user_id = $1 AND deleted_at IS NULL"
# 004:100 `idx_conversations_archived ON conversations(user_id, is_archived) WHERE deleted_at IS NULL`
UNARCHIVED = "SELECT * FROM conversations WHERE user_id = $1 AND is_archived = false AND deleted_at IS NULL"
# 004:123 `CREATE INDEX idx_messages_conversation ON messages(conversation_id, created_at);`
MESSAGES_OF_CONVERSATION = "SELECT * FROM messages WHERE conversation_id = $1 ORDER BY created_at"
# 004:125 `CREATE INDEX idx_messages_agent ON messages(agent_name) WHERE agent_name IS NOT NULL;`
MESSAGES_OF_AGENT = "SELECT * FROM messages WHERE agent_name IS NOT NULL AND agent_name = 'FELLO'"
# 004:126 `CREATE INDEX idx_messages_role ON messages(role);`
MESSAGES_BY_ROLE = "SELECT role, count(*) FROM messages GROUP BY role ORDER BY role"
# 004:301 `CREATE INDEX idx_session_logs_user ON session_logs(user_id, is_active);`
ACTIVE_SESSIONS_OF_USER = "SELECT * FROM session_logs WHERE user_id = $1 AND is_active = true"
# 004:302 `idx_session_logs_token ON session_logs(session_token) WHERE is_active = true`
SESSION_BY_TOKEN = "SELECT * FROM session_logs WHERE session_token = $1 AND is_active = true"
# 004:303 `idx_session_logs_activity ON session_logs(last_activity_at) WHERE is_active = true`
ACTIVE_SESSIONS = "SELECT * FROM session_logs WHERE is_active = true ORDER BY last_activity_at"


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


@pytest.mark.parametrize("view", sorted(COLUMNS))
async def test_othello_views_have_the_seed_columns_in_order(as_app: AsApp, view: str) -> None:
    assert await view_columns(as_app, "othello", view) == COLUMNS[view]


async def test_users_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        [row] = await seed_query(as_app, person.user_id, "othello", USER_BY_EMAIL, person.email)
        assert (row["id"], row["external_id"], row["timezone"], row["deleted_at"]) == (
            person.user_id,
            person.user_id,
            "UTC",
            None,
        )
        assert row["password_hash"] is None  # the hash never leaves agentkeep
        assert await seed_query(as_app, person.user_id, "othello", USER_BY_EMAIL, other.email) == []
        assert await seed_query(as_app, person.user_id, "othello", USER_BY_EXTERNAL_ID, other.user_id) == []
    assert await seed_query(as_app, None, "othello", USER_BY_EXTERNAL_ID, alice.user_id) == []


async def test_conversations_each_user_sees_only_their_live_ones(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        for query in (CONVERSATIONS_OF_USER, UNARCHIVED):
            rows = await seed_query(as_app, person.user_id, "othello", query, person.user_id)
            assert ids(rows, "id") == {person.conversation_id}  # the deleted one never shows
            assert await seed_query(as_app, person.user_id, "othello", query, other.user_id) == []
    assert await seed_query(as_app, None, "othello", CONVERSATIONS_OF_USER, alice.user_id) == []


async def test_messages_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        rows = await seed_query(
            as_app, person.user_id, "othello", MESSAGES_OF_CONVERSATION, person.conversation_id
        )
        assert [row["id"] for row in rows] == [person.question_id, person.reply_id]
        assert [row["role"] for row in rows] == ["user", "assistant"]
        deleted = await seed_query(
            as_app, person.user_id, "othello", MESSAGES_OF_CONVERSATION, person.deleted_conversation_id
        )
        assert deleted == []
        mine = await seed_query(
            as_app, person.user_id, "othello", MESSAGES_OF_CONVERSATION, other.conversation_id
        )
        assert mine == []
        by_agent = await seed_query(as_app, person.user_id, "othello", MESSAGES_OF_AGENT)
        assert [(row["id"], row["token_count"]) for row in by_agent] == [(person.reply_id, 7)]
        by_role = await seed_query(as_app, person.user_id, "othello", MESSAGES_BY_ROLE)
        assert [tuple(row) for row in by_role] == [("assistant", 1), ("user", 1)]
    assert await seed_query(as_app, None, "othello", MESSAGES_BY_ROLE) == []


async def test_session_logs_each_user_sees_only_their_own(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    for person, other in ((alice, bob), (bob, alice)):
        [row] = await seed_query(as_app, person.user_id, "othello", ACTIVE_SESSIONS_OF_USER, person.user_id)
        assert (row["id"], row["is_active"], row["logout_at"]) == (person.user_session_id, True, None)
        assert row["user_agent"].endswith("-browser")
        assert (
            await seed_query(as_app, person.user_id, "othello", ACTIVE_SESSIONS_OF_USER, other.user_id) == []
        )
        active = await seed_query(as_app, person.user_id, "othello", ACTIVE_SESSIONS)
        assert ids(active, "id") == {person.user_session_id}
    assert await seed_query(as_app, None, "othello", ACTIVE_SESSIONS) == []


async def test_session_token_is_the_hex_sha256_of_the_token(as_app: AsApp, world: World) -> None:
    alice, bob = world.people
    digest = hashlib.sha256(alice.session_token.encode()).hexdigest()
    [row] = await seed_query(as_app, alice.user_id, "othello", SESSION_BY_TOKEN, digest)
    assert row["id"] == alice.user_session_id
    assert await seed_query(as_app, bob.user_id, "othello", SESSION_BY_TOKEN, digest) == []
    # The token itself is never stored, so it finds nothing.
    assert await seed_query(as_app, alice.user_id, "othello", SESSION_BY_TOKEN, alice.session_token) == []
