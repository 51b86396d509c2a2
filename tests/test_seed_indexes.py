"""Seed schema: the seeds' indexes under agentkeep's names, and the query plans they serve.

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkeep.ids import new_ids
from agentkeep.principal import Principal
from seed_helpers import (
    LATEST_MESSAGES,
    add_conversation,
    add_messages_in_bulk,
    plan_nodes,
)

# ---------------------------------------------------------------------------------------------
# Indexes named in the seeds, under agentkeep's names
# ---------------------------------------------------------------------------------------------

# index name -> (table, text of pg_indexes.indexdef after "USING ")
SEED_INDEXES: dict[str, tuple[str, str]] = {
    "pk_users": ("users", "btree (user_id)"),
    "pk_user_emails": ("user_emails", "btree (email)"),
    "pk_user_usernames": ("user_usernames", "btree (username)"),
    "ix_users_active": ("users", "btree (is_active, last_active_at) WHERE (deleted_at IS NULL)"),
    "ix_users_auth_external": ("users", "btree (auth_provider, auth_external_id)"),
    "pk_user_sessions": ("user_sessions", "btree (user_id, id)"),
    "uq_user_sessions_user_id_token_hash": ("user_sessions", "btree (user_id, token_hash)"),
    "ix_user_sessions_user_id_status": ("user_sessions", "btree (user_id, status)"),
    "ix_user_sessions_active_activity": (
        "user_sessions",
        "btree (last_activity_at) WHERE ((status)::text = 'active'::text)",
    ),
    "ix_user_sessions_ended_at": ("user_sessions", "btree (ended_at) WHERE (ended_at IS NOT NULL)"),
    "pk_agent_sessions": ("agent_sessions", "btree (user_id, id)"),
    "ix_agent_sessions_user_created": ("agent_sessions", "btree (user_id, created_at)"),
    "ix_agent_sessions_status": ("agent_sessions", "btree (status)"),
    "ix_agent_sessions_created_at": ("agent_sessions", "btree (created_at)"),
    "ix_agent_sessions_agent_type": ("agent_sessions", "btree (agent_type, agent_type_vocabulary)"),
    "ix_agent_sessions_token_cost": ("agent_sessions", "btree (token_cost)"),
    "ix_agent_sessions_agent_created": ("agent_sessions", "btree (agent_id, created_at)"),
    "ix_agent_sessions_user_session": ("agent_sessions", "btree (user_id, user_session_id)"),
    "ix_agent_sessions_active": (
        "agent_sessions",
        "btree (created_at, status) WHERE ((status)::text = ANY ((ARRAY["
        "'running'::character varying, 'pending_approval'::character varying, "
        "'approved'::character varying])::text[]))",
    ),
    "pk_agents": ("agents", "btree (id)"),
    "uq_agents_name": ("agents", "btree (name)"),
    "ix_agents_persona_type": ("agents", "btree (persona_type, persona_type_vocabulary)"),
    "ix_agents_capabilities": ("agents", "gin (capabilities)"),
    "pk_personas": ("personas", "btree (id)"),
    "uq_personas_persona_name_persona_version": (
        "personas",
        "btree (persona_name, persona_version)",
    ),
    "ix_personas_is_active": ("personas", "btree (is_active)"),
    "ix_personas_is_core": ("personas", "btree (is_core)"),
    "ix_personas_priority_level": ("personas", "btree (priority_level)"),
    "ix_personas_specialization": ("personas", "btree (specialization)"),
    "pk_persona_activations": ("persona_activations", "btree (user_id, id)"),
    "ix_persona_activations_session": (
        "persona_activations",
        "btree (user_id, agent_session_id, activated_at)",
    ),
    "ix_persona_activations_persona_id": ("persona_activations", "btree (persona_id)"),
    "pk_conversations": ("conversations", "btree (user_id, id)"),
    "ix_conversations_user_listing": (
        "conversations",
        "btree (user_id, is_archived, id DESC) WHERE (deleted_at IS NULL)",
    ),
    "ix_conversations_created_at": ("conversations", "btree (created_at)"),
    "ix_conversations_agent_id": ("conversations", "btree (agent_id) WHERE (agent_id IS NOT NULL)"),
    "ix_conversations_agent_session": (
        "conversations",
        "btree (user_id, agent_session_id) WHERE (agent_session_id IS NOT NULL)",
    ),
    "ix_conversations_deleted_at": (
        "conversations",
        "btree (deleted_at) WHERE (deleted_at IS NOT NULL)",
    ),
    "pk_messages": ("messages", "btree (user_id, id)"),
    "uq_messages_conversation_order": ("messages", "btree (user_id, conversation_id, id)"),
    "ix_messages_parent": (
        "messages",
        "btree (user_id, conversation_id, parent_message_id) WHERE (parent_message_id IS NOT NULL)",
    ),
    "ix_messages_agent_session": (
        "messages",
        "btree (user_id, agent_session_id) WHERE (agent_session_id IS NOT NULL)",
    ),
    "ix_messages_agent_name": ("messages", "btree (agent_name) WHERE (agent_name IS NOT NULL)"),
    "ix_messages_role": ("messages", "btree (role)"),
    "ix_messages_created_at": ("messages", "btree (created_at)"),
    # 000 idx_kai_decisions_ticker, 002 "agent_decisions.decision_type needs index", 002 index on
    # session_id; 000 idx_kai_decisions_user and recent-first listing are pk_decisions read backwards.
    "ix_decisions_user_subject": ("decisions", "btree (user_id, subject, id DESC)"),
    "ix_decisions_user_type": ("decisions", "btree (user_id, decision_type, id DESC)"),
    "ix_decisions_agent_session": (
        "decisions",
        "btree (user_id, agent_session_id) WHERE (agent_session_id IS NOT NULL)",
    ),
    "pk_decisions": ("decisions", "btree (user_id, id)"),
}


@pytest.mark.parametrize("index_name", sorted(SEED_INDEXES))
async def test_seed_index_exists(owner, index_name: str) -> None:
    table, definition = SEED_INDEXES[index_name]
    row = await owner.fetchrow(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1",
        index_name,
    )
    assert row is not None, f"index {index_name} is missing"
    assert row["tablename"] == table
    assert row["indexdef"].split(" USING ", 1)[1] == definition
    is_unique = row["indexdef"].startswith("CREATE UNIQUE INDEX")
    assert is_unique == index_name.startswith(("pk_", "uq_"))


async def conversation_order_indexes(conn: Any) -> set[str]:
    """uq_messages_conversation_order and its copies on the monthly partitions (revision 0006)."""
    rows = await conn.fetch("SELECT relid::text FROM pg_partition_tree('uq_messages_conversation_order')")
    return {row[0] for row in rows}


async def test_latest_messages_scan_conversation_order_index_backwards(as_app, make_user) -> None:
    """002's (session_id, created_at) index is served by (user_id, conversation_id, id)."""
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        other = await add_conversation(conn, user.user_id)
        ids = await add_messages_in_bulk(conn, user.user_id, conversation, 300)
        await add_messages_in_bulk(conn, user.user_id, other, 300)
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (FORMAT JSON) {LATEST_MESSAGES}", user.user_id, conversation)
        )[0]["Plan"]
        order_indexes = await conversation_order_indexes(conn)
        scans = [node for node in plan_nodes(plan) if node.get("Index Name") in order_indexes]
        assert scans, json.dumps(plan, indent=1)
        assert scans[0]["Node Type"] in ("Index Scan", "Index Only Scan")
        assert scans[0]["Scan Direction"] == "Backward"
        assert not any(node["Node Type"] == "Sort" for node in plan_nodes(plan))
        rows = await conn.fetch(LATEST_MESSAGES, user.user_id, conversation)
    assert [row["id"] for row in rows] == sorted(ids, reverse=True)[:50]


async def test_latest_50_of_10000_messages_reads_only_those_50(as_app, make_user) -> None:
    """Seed 002 scenario: recent messages of a session come back fast (< 100 ms) at 10,000.

    Speed is measured by `make bench` (docs/benchmarks.md: about 0.65 ms through the SDK), not
    asserted by a timed test; what is asserted is why it is fast and stays fast: the read touches
    the 50 newest index entries and their rows, however long the conversation is.
    """
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        conversation = await add_conversation(conn, user.user_id)
        ids = await add_messages_in_bulk(conn, user.user_id, conversation, 10_000)
        await add_messages_in_bulk(conn, user.user_id, await add_conversation(conn, user.user_id), 2_000)
        plan = json.loads(
            await conn.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {LATEST_MESSAGES}", user.user_id, conversation
            )
        )[0]["Plan"]
        rows = await conn.fetch(LATEST_MESSAGES, user.user_id, conversation)
        order_indexes = await conversation_order_indexes(conn)
    assert [row["id"] for row in rows] == sorted(ids, reverse=True)[:50]
    # messages is partitioned by month: one backward scan per partition, newest first, that stop
    # together after the 50 newest.
    scans = [node for node in plan_nodes(plan) if node.get("Index Name") in order_indexes]
    assert scans and all(scan["Scan Direction"] == "Backward" for scan in scans)
    read = sum(scan["Actual Rows"] * scan["Actual Loops"] for scan in scans)
    assert read == 50, "the scans read past the 50 they needed"
    touched = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
    assert touched < 200, f"{touched} buffers for 50 messages: the read does not stay small"


async def test_conversation_listing_is_an_index_scan_without_sort(as_app, make_user) -> None:
    """004's idx_conversations_user / idx_conversations_archived: newest first, no sort.

    ix_conversations_user_listing (user_id, is_archived, id DESC) WHERE deleted_at IS NULL serves
    the listing; with no statistics yet the planner may equally walk pk_conversations
    (user_id, id) backwards. Either way the order comes from an index, never from a sort.
    """
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        ids = new_ids(500)
        await conn.execute(
            "INSERT INTO conversations (user_id, id, is_archived) "
            "SELECT $1, c.id, c.n % 3 = 0 FROM unnest($2::uuid[]) WITH ORDINALITY AS c(id, n)",
            user.user_id,
            ids,
        )
        listing = (
            "SELECT id FROM conversations "
            "WHERE user_id = $1 AND is_archived = false AND deleted_at IS NULL "
            "ORDER BY id DESC LIMIT 20"
        )
        plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {listing}", user.user_id))[0]["Plan"]
        rows = await conn.fetch(listing, user.user_id)
    nodes = plan_nodes(plan)
    scans = [node for node in nodes if node.get("Relation Name") == "conversations"]
    assert len(scans) == 1, json.dumps(plan, indent=1)
    assert scans[0]["Node Type"] in ("Index Scan", "Index Only Scan")
    assert scans[0]["Index Name"] in ("ix_conversations_user_listing", "pk_conversations")
    assert not any(node["Node Type"] == "Sort" for node in nodes)
    not_archived = [row_id for n, row_id in enumerate(ids, start=1) if n % 3 != 0]
    assert [row["id"] for row in rows] == sorted(not_archived, reverse=True)[:20]
