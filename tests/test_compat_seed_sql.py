"""Every SQL statement the five seeds write, run verbatim through their compatibility schemas.

The checker of issue 7, item 4 as a test: each SELECT, each view and function body, each
validation and test query of seeds 000-004 that touches a table agentkeep serves, run as the
application role with ``search_path`` set to the seed's schema, for two users (and for nobody).
The texts are the seeds' own (trailing blanks aside); each carries its seed line. They fall in
four classes:

- served: runs, and each user sees exactly their own rows (``SERVED_*`` below, and the reads in
  ``tests/test_compat_<profile>.py``);
- introspection: runs, but the seed's catalog questions are about tables in ``public`` that are
  views in the compatibility schema here, so the answer is empty (docs/profiles.md, "Introspection
  does not carry over"; agentkeep's own schema tests answer them);
- later: names a table or function of a later capability (audit, vault, governance, usage,
  partitions) and fails with the missing name until that capability adds its view here (then it
  moves to served);
- refused: the seed's own DDL (000's ``db/migrate.py``): the schema belongs to agentkeep's
  migrations, and the application role may not create in it.

No statement of a served table fails (000's trigger functions and 002, which writes no query,
have nothing to run).
"""

from __future__ import annotations

import asyncpg
import pytest

from agentkeep.governance.models import NewGovernanceEvent
from agentkeep.keep import Keep
from compat_helpers import USER_ACTIVITY_SUMMARY_BODY, AsApp, World, build_world, ids, seed_query

# --- served ----------------------------------------------------------------------------------

# 001:497-523 the query db_health_check() returns (RETURN QUERY ...)
HEALTH_METRICS_BODY = """    WITH health_metrics AS (
        SELECT 'active_connections' as metric,
               COUNT(*)::NUMERIC as value,
               100::NUMERIC as threshold
        FROM pg_stat_activity WHERE state = 'active'

        UNION ALL

        SELECT 'db_size_mb',
               pg_database_size(current_database()) / 1024 / 1024,
               10240 -- 10GB threshold

        UNION ALL

        SELECT 'cache_hit_ratio',
               CASE WHEN blks_read + blks_hit = 0 THEN 100
                    ELSE (blks_hit * 100.0 / (blks_hit + blks_read))
               END,
               90 -- 90% hit ratio threshold
        FROM pg_stat_database WHERE datname = current_database()
    )
    SELECT
        h.metric,
        h.value,
        CASE WHEN h.value <= h.threshold THEN 'OK' ELSE 'WARNING' END,
        h.threshold
    FROM health_metrics h;"""

# 001:376 and 001:488, the view and the function by their names.
USER_ACTIVITY_SUMMARY = "SELECT * FROM user_activity_summary"
DB_HEALTH_CHECK = "SELECT * FROM db_health_check()"
# 003:314-319, verbatim.
MOST_ACTIVE_USERS = """-- Most active users
SELECT user_id, COUNT(*) as conversation_count
FROM ai_conversations
GROUP BY user_id
ORDER BY conversation_count DESC
LIMIT 10;"""

# --- introspection -----------------------------------------------------------------------------

# 003:285-289
LIST_AI_TABLES = """-- List all AI tables
SELECT table_name
FROM information_schema.tables
WHERE table_schema = 'public'
AND table_name LIKE 'ai_%' OR table_name = 'user_ai_settings';"""

# 003:291-294
CHECK_INDEXES = """-- Check indexes
SELECT indexname, tablename
FROM pg_indexes
WHERE tablename IN ('user_ai_settings', 'ai_conversations', 'ai_usage_logs', 'ai_content_searches');"""

# 003:296-299
CHECK_POLICIES = """-- Check RLS policies
SELECT tablename, policyname
FROM pg_policies
WHERE tablename IN ('user_ai_settings', 'ai_conversations', 'ai_usage_logs', 'ai_content_searches');"""

# 001:361-373 the query of the view active_agent_sessions (served since revision 0012)
ACTIVE_AGENT_SESSIONS_BODY = """SELECT
    a.agent_session_id,
    a.user_id,
    a.agent_type,
    a.status,
    a.token_cost,
    a.created_at,
    (SELECT COUNT(*) FROM governance_events g
     WHERE g.agent_session_id = a.agent_session_id AND g.approved = true) as approvals,
    (SELECT COUNT(*) FROM governance_events g
     WHERE g.agent_session_id = a.agent_session_id AND g.approved = false) as rejections
FROM agent_sessions a
WHERE a.status IN ('running', 'pending_approval', 'approved');"""

# 001:415-430 the query of the view backup_critical_data (its body runs since revision 0012; the
# view itself is the audit and retention issue's)
BACKUP_CRITICAL_DATA_BODY = """SELECT
    'users' as table_name, user_id::text as record_id,
    row_to_json(users.*) as data, created_at as backup_priority
FROM users
UNION ALL
SELECT
    'agent_sessions' as table_name, agent_session_id::text as record_id,
    row_to_json(agent_sessions.*) as data, created_at as backup_priority
FROM agent_sessions
WHERE created_at > NOW() - INTERVAL '30 days'
UNION ALL
SELECT
    'governance_events' as table_name, event_id::text as record_id,
    row_to_json(governance_events.*) as data, created_at as backup_priority
FROM governance_events
WHERE created_at > NOW() - INTERVAL '90 days';"""

# --- later -------------------------------------------------------------------------------------

# 003:304-307
USERS_BY_TIER = """-- Count users by tier
SELECT tier, COUNT(*)
FROM user_ai_settings
GROUP BY tier;"""

# 003:309-312
TOKENS_LAST_7_DAYS = """-- Total tokens used (last 7 days)
SELECT SUM(tokens_used) as total_tokens, SUM(cost_usd) as total_cost
FROM ai_usage_logs
WHERE created_at >= NOW() - INTERVAL '7 days';"""

# --- refused -----------------------------------------------------------------------------------

# 000:83-92 db/migrate.py create_kai_sessions
KAI_SESSIONS_DDL = """        CREATE TABLE IF NOT EXISTS kai_sessions (
            session_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES vault_keys(user_id) ON DELETE CASCADE,
            processing_mode TEXT CHECK (processing_mode IN ('on_device', 'hybrid')),
            risk_profile TEXT CHECK (risk_profile IN ('conservative', 'balanced', 'aggressive')),
            legal_acknowledged BOOLEAN DEFAULT FALSE,
            onboarding_complete BOOLEAN DEFAULT FALSE,
            created_at TIMESTAMPTZ DEFAULT NOW(),
            updated_at TIMESTAMPTZ DEFAULT NOW()
        )"""

# 000:102-115 db/migrate.py create_kai_decisions
KAI_DECISIONS_DDL = """        CREATE TABLE IF NOT EXISTS kai_decisions (
            id SERIAL PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES vault_keys(user_id) ON DELETE CASCADE,
            session_id TEXT REFERENCES kai_sessions(session_id),
            ticker TEXT NOT NULL,
            decision_type TEXT CHECK (decision_type IN ('buy', 'hold', 'reduce')),
            decision_ciphertext TEXT NOT NULL,
            debate_ciphertext TEXT,
            iv TEXT NOT NULL,
            tag TEXT NOT NULL,
            algorithm TEXT DEFAULT 'aes-256-gcm',
            confidence_score DECIMAL(3,2),
            created_at TIMESTAMPTZ DEFAULT NOW()
        )"""

# (seed line, schema, statement, the missing name the error gives, the capability that adds it).
# Calls of the seed's functions use their declared arguments; 001:557 is verbatim.
LATER = [
    (
        "001:414",
        "devassist",
        "SELECT * FROM backup_critical_data",
        "backup_critical_data",
        "audit and retention",
    ),
    # The owner's public.create_monthly_partition serves 001:342 (tests/test_partitions_maintenance.py);
    # the application role, whose schema devassist is, may not create partitions.
    (
        "001:342",
        "devassist",
        "SELECT create_monthly_partition('governance_events', '2025-03-01')",
        "create_monthly_partition",
        "partitions (owner only)",
    ),
    ("001:467", "devassist", "SELECT encrypt_sensitive('secret')", "encrypt_sensitive", "vault"),
    ("001:475", "devassist", "SELECT decrypt_sensitive('\\x00'::bytea)", "decrypt_sensitive", "vault"),
    (
        "001:557",
        "devassist",
        "SELECT cron.schedule('data_cleanup', '0 2 1 * *', 'SELECT cleanup_old_data();');",
        "cron",
        "audit and retention",
    ),
    ("003:304", "vromm", USERS_BY_TIER, "user_ai_settings", "usage"),
    ("003:309", "vromm", TOKENS_LAST_7_DAYS, "ai_usage_logs", "usage"),
    ("003:238", "vromm", "SELECT reset_daily_ai_usage()", "reset_daily_ai_usage", "usage"),
    ("003:252", "vromm", "SELECT reset_monthly_ai_usage()", "reset_monthly_ai_usage", "usage"),
]
MISSING = (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError, asyncpg.InvalidSchemaNameError)


@pytest.fixture(scope="module")
async def world(keep: Keep) -> World:
    return await build_world(keep)


async def test_user_activity_summary_query_gives_each_user_their_own_row(as_app: AsApp, world: World) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "devassist", USER_ACTIVITY_SUMMARY_BODY)
        assert ids(rows, "user_id") == {person.user_id}
        [row] = rows
        # The Kai session and the developer session; only the developer session was charged.
        assert (row["total_sessions"], row["total_cost"]) == (2, person.token_cost)
        # The view is this very text: both give the same row.
        assert await seed_query(as_app, person.user_id, "devassist", USER_ACTIVITY_SUMMARY) == rows
    assert await seed_query(as_app, None, "devassist", USER_ACTIVITY_SUMMARY_BODY) == []


async def test_active_agent_sessions_and_backup_queries_give_each_user_their_own_rows(
    keep: Keep, as_app: AsApp, world: World
) -> None:
    """001's active_agent_sessions (the view and its body) and backup_critical_data's body."""
    for person in world.people:
        for approved in (True, False):
            await keep.governance.record(
                person.user_id,
                NewGovernanceEvent(
                    agent_session_id=person.dev_session_id,
                    event_type="post_agent_spawn",
                    framework_type="consensus",
                    approved=approved,
                ),
            )
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "devassist", ACTIVE_AGENT_SESSIONS_BODY)
        assert ids(rows, "user_id") <= {person.user_id}
        assert all(
            (row["approvals"], row["rejections"]) == (1, 1)
            for row in rows
            if row["agent_session_id"] == person.dev_session_id
        )
        assert (
            await seed_query(as_app, person.user_id, "devassist", "SELECT * FROM active_agent_sessions")
            == rows
        )
        backup = await seed_query(as_app, person.user_id, "devassist", BACKUP_CRITICAL_DATA_BODY)
        events = [row for row in backup if row["table_name"] == "governance_events"]
        assert len(events) == 2
        assert {row["record_id"] for row in backup if row["table_name"] == "users"} == {str(person.user_id)}
    assert await seed_query(as_app, None, "devassist", ACTIVE_AGENT_SESSIONS_BODY) == []


async def test_health_metrics_query_and_function_agree_for_every_caller(as_app: AsApp, world: World) -> None:
    metrics = ["active_connections", "db_size_mb", "cache_hit_ratio"]
    for user_id in (world.alice.user_id, world.bob.user_id, None):
        query = await seed_query(as_app, user_id, "devassist", HEALTH_METRICS_BODY)
        function = await seed_query(as_app, user_id, "devassist", DB_HEALTH_CHECK)
        assert [row["metric"] for row in query] == [row["metric"] for row in function] == metrics
        # The query's third column is the seed's unnamed CASE; the function names it status.
        assert [row["case"] for row in query] == [
            "OK" if row["value"] <= row["threshold"] else "WARNING" for row in query
        ]
        assert [row["threshold"] for row in function] == [100, 10240, 90]
        assert function[0]["value"] >= 1  # the calling connection itself is active


async def test_most_active_users_counts_each_users_own_live_conversations(
    as_app: AsApp, world: World
) -> None:
    for person in world.people:
        rows = await seed_query(as_app, person.user_id, "vromm", MOST_ACTIVE_USERS)
        assert [tuple(row) for row in rows] == [(person.user_id, 1)]
    assert await seed_query(as_app, None, "vromm", MOST_ACTIVE_USERS) == []


@pytest.mark.parametrize(
    "sql", [LIST_AI_TABLES, CHECK_INDEXES, CHECK_POLICIES], ids=["tables", "indexes", "policies"]
)
async def test_introspection_queries_run_but_find_no_seed_tables(
    as_app: AsApp, world: World, sql: str
) -> None:
    # The seed asks about tables in public; here ai_conversations is a view in vromm, and the
    # seed's other tables arrive with usage and quotas.
    for person in world.people:
        assert await seed_query(as_app, person.user_id, "vromm", sql) == []


@pytest.mark.parametrize(
    ("seed_line", "schema", "sql", "missing", "capability"), LATER, ids=[f"{r[0]}-{r[3]}" for r in LATER]
)
async def test_statements_of_later_capabilities_name_what_is_missing(
    as_app: AsApp, world: World, seed_line: str, schema: str, sql: str, missing: str, capability: str
) -> None:
    # When `capability` adds `missing` to the schema, this statement moves to the served tests.
    with pytest.raises(MISSING, match=f'"{missing}" does not exist|{missing}\\('):
        await seed_query(as_app, world.alice.user_id, schema, sql)


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        (KAI_SESSIONS_DDL, "permission denied for schema kai"),
        (
            "CREATE INDEX IF NOT EXISTS idx_kai_sessions_user ON kai_sessions(user_id)",
            "must be owner of view",
        ),
        (KAI_DECISIONS_DDL, "permission denied for schema kai"),
    ],
    ids=["000:83-kai_sessions", "000:94-idx_kai_sessions_user", "000:102-kai_decisions"],
)
async def test_seed_ddl_is_refused_to_the_application_role(
    as_app: AsApp, world: World, sql: str, refusal: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match=refusal):
        await seed_query(as_app, world.alice.user_id, "kai", sql)
    # The served view is untouched: still the acting user's one Kai session.
    rows = await seed_query(as_app, world.alice.user_id, "kai", "SELECT * FROM kai_sessions")
    assert ids(rows, "session_id") == {world.alice.kai_session_id}
