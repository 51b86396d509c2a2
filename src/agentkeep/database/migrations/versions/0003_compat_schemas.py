"""seed compatibility schemas: kai, devassist, agentic, vromm, othello (read-only views)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:45:00.000000

One schema per seed profile, named after it, holding views (and, for 001, a function) that carry
the seed's own table, column and function names over agentkeep's tables. A client that sets
``search_path`` to one of them runs that seed's queries verbatim (docs/profiles.md,
"Compatibility schemas").

- Every view is ``security_invoker``: the querying role's row-level security applies, so the
  application role sees only the acting user's rows (``SET LOCAL agentkeep.user_id``), and no
  rows at all without one. Catalog views (agents, personas) show the shared catalog to everyone.
- Columns are exactly the seed's, in the seed's order, so ``SELECT *`` has the seed's shape.
  Ids are agentkeep's UUIDs (the seeds' TEXT, SERIAL and BIGSERIAL ids are not kept).
- Soft-deleted rows are hidden (a deleted conversation's messages are unreachable by every read
  path, as in the SDK).
- Read-only: the application role gets USAGE on the schema and SELECT on the views, nothing
  else. Writes go through the SDK or REST (on Citus every write through a view is refused, and
  a write here would bypass the SDK's limits and bookkeeping).
- The seed's own view and function texts (001's ``user_activity_summary`` and
  ``db_health_check``) are run as written, with ``search_path`` set to their schema, so their
  bodies are literally the seed's (trailing blanks aside).
- Later capability issues add their own views here in their own revisions, by the same rules.

Everything is inlined SQL: this revision never changes once released.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from agentkeep.database.roles import APP_ROLE

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

creates_tables: tuple[str, ...] = ()

# --- kai (seed 000) --------------------------------------------------------------------------

# 000:22-37. A Kai session is an agent session of type 'kai'; its onboarding fields live in
# agent_sessions.context until typed preferences arrive. A stored value of the wrong JSON type
# reads as the seed's default instead of failing the whole read.
KAI_SESSIONS = """
CREATE VIEW kai.kai_sessions WITH (security_invoker = true) AS
SELECT
    s.id                                    AS session_id,
    s.user_id                               AS user_id,
    s.context ->> 'processing_mode'         AS processing_mode,
    s.context ->> 'risk_profile'            AS risk_profile,
    CASE WHEN jsonb_typeof(s.context -> 'legal_acknowledged') = 'boolean'
         THEN (s.context ->> 'legal_acknowledged')::boolean ELSE false END  AS legal_acknowledged,
    CASE WHEN jsonb_typeof(s.context -> 'onboarding_complete') = 'boolean'
         THEN (s.context ->> 'onboarding_complete')::boolean ELSE false END AS onboarding_complete,
    s.created_at                            AS created_at,
    s.updated_at                            AS updated_at
FROM public.agent_sessions AS s
WHERE s.agent_type = 'kai'
"""

# --- devassist (seed 001) --------------------------------------------------------------------

# 001:106-120. username may be NULL here (external sign-in); deleted users are unreachable.
DEVASSIST_USERS = """
CREATE VIEW devassist.users WITH (security_invoker = true) AS
SELECT
    u.user_id,
    u.email,
    u.username,
    u.full_name,
    u.preferences_json,
    u.auth_provider,
    u.auth_external_id,
    u.created_at,
    u.last_active_at,
    u.is_active,
    u.version
FROM public.users AS u
WHERE u.deleted_at IS NULL
"""

# 001:40-49 (ER diagram only).
DEVASSIST_USER_SESSIONS = """
CREATE VIEW devassist.user_sessions WITH (security_invoker = true) AS
SELECT
    s.id AS session_id,
    s.user_id,
    s.session_type,
    s.session_context,
    s.started_at,
    s.ended_at,
    s.status,
    s.version
FROM public.user_sessions AS s
"""

# 001:132-155. session_id is the user session (the seed's name); status adds 002's 'paused'.
DEVASSIST_AGENT_SESSIONS = """
CREATE VIEW devassist.agent_sessions WITH (security_invoker = true) AS
SELECT
    a.id              AS agent_session_id,
    a.user_id,
    a.user_session_id AS session_id,
    a.agent_type,
    a.agent_config,
    a.personas_active,
    a.governance_state,
    a.status,
    a.created_at,
    a.started_at,
    a.completed_at,
    a.error_details,
    a.token_cost,
    a.estimated_cost,
    a.max_cost_limit,
    a.version
FROM public.agent_sessions AS a
"""

# 001:212-229. persona_id is the uuid; the readable key is (persona_name, persona_version).
DEVASSIST_PERSONAS = """
CREATE VIEW devassist.personas WITH (security_invoker = true) AS
SELECT
    p.id AS persona_id,
    p.persona_name,
    p.persona_version,
    p.specialization,
    p.capabilities,
    p.activation_rules,
    p.crisis_scenarios,
    p.behavioral_patterns,
    p.is_active,
    p.is_core,
    p.priority_level,
    p.created_at,
    p.updated_at
FROM public.personas AS p
"""

# 001:89-98 (ER diagram only).
DEVASSIST_PERSONA_ACTIVATIONS = """
CREATE VIEW devassist.persona_activations WITH (security_invoker = true) AS
SELECT
    pa.id AS activation_id,
    pa.agent_session_id,
    pa.persona_id,
    pa.activation_trigger,
    pa.activation_context,
    pa.activated_at,
    pa.deactivated_at,
    pa.results
FROM public.persona_activations AS pa
"""

# 001:376-388, as the seed writes it (over the views above); upgrade() makes it security_invoker.
DEVASSIST_USER_ACTIVITY_SUMMARY = """
CREATE VIEW user_activity_summary AS
SELECT
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
GROUP BY u.user_id, u.username, u.last_active_at;
"""

# 001:488-525, as the seed writes it but for two casts in the last SELECT: as written, every
# PostgreSQL refuses to run it ("structure of query does not match function result type":
# RETURN QUERY needs the declared VARCHAR columns, the query gives text). It reads only server
# statistics, so it carries no user's rows; upgrade() pins its search_path, so a caller's
# search_path cannot redirect its names.
DEVASSIST_DB_HEALTH_CHECK = """
CREATE OR REPLACE FUNCTION db_health_check()
RETURNS TABLE (
    metric VARCHAR(50),
    value NUMERIC,
    status VARCHAR(20),
    threshold NUMERIC
) AS $$
BEGIN
    RETURN QUERY
    WITH health_metrics AS (
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
        h.metric::VARCHAR(50),
        h.value,
        (CASE WHEN h.value <= h.threshold THEN 'OK' ELSE 'WARNING' END)::VARCHAR(20),
        h.threshold
    FROM health_metrics h;
END;
$$ LANGUAGE plpgsql;
"""

# --- agentic (seed 002) ----------------------------------------------------------------------

# 002:37-46, plus version (002:266 "optimistic locking columns (version) to agents and sessions").
AGENTIC_AGENTS = """
CREATE VIEW agentic.agents WITH (security_invoker = true) AS
SELECT
    a.id AS agent_id,
    a.name,
    a.persona_type,
    a.capabilities,
    a.config,
    a.created_at,
    a.updated_at,
    a.is_active,
    a.version
FROM public.agents AS a
"""

# 002:51-61, plus version. session_state is read from agentkeep's status machine: failed,
# cancelled and blocked read as 'completed' (002 has no such states); status stays in public.
AGENTIC_AGENT_SESSIONS = """
CREATE VIEW agentic.agent_sessions WITH (security_invoker = true) AS
SELECT
    s.id                                 AS session_id,
    s.agent_id,
    s.user_id,
    s.trust_level::integer               AS trust_level,
    s.context,
    coalesce(s.started_at, s.created_at) AS started_at,
    s.completed_at                       AS ended_at,
    (CASE WHEN s.status IN ('paused', 'completed') THEN s.status
          WHEN s.status IN ('failed', 'cancelled', 'blocked') THEN 'completed'
          ELSE 'active' END)::varchar(20) AS session_state,
    s.metadata,
    s.version
FROM public.agent_sessions AS s
"""

# 002:110-120. session_id is the message's agent session; the seed's role 'agent' is stored as
# 'assistant' and read back as 'agent'.
AGENTIC_CONVERSATION_HISTORY = """
CREATE VIEW agentic.conversation_history WITH (security_invoker = true) AS
SELECT
    m.id                                  AS message_id,
    m.agent_session_id                    AS session_id,
    (CASE m.role WHEN 'assistant' THEN 'agent' ELSE m.role END)::varchar(20) AS role,
    m.content,
    m.message_type,
    m.parent_message_id,
    m.created_at,
    m.token_count                         AS tokens_used,
    m.model_used
FROM public.messages AS m
JOIN public.conversations AS c ON c.user_id = m.user_id AND c.id = m.conversation_id
WHERE m.deleted_at IS NULL AND c.deleted_at IS NULL
"""

# --- vromm (seed 003) ------------------------------------------------------------------------

# 003:93-110. messages is built from agentkeep's message rows ([{role, content, timestamp}],
# oldest first); model_used falls back to the latest message's model, then '' (NOT NULL in the
# seed). The lateral join is keyed by user_id, so Citus runs it on the user's worker.
VROMM_AI_CONVERSATIONS = """
CREATE VIEW vromm.ai_conversations WITH (security_invoker = true) AS
SELECT
    c.id,
    c.user_id,
    coalesce(t.messages, '[]'::jsonb)                   AS messages,
    coalesce(c.model_used, t.last_model_used, '')::text AS model_used,
    c.tokens_used,
    c.cost_usd,
    c.created_at,
    c.updated_at
FROM public.conversations AS c
LEFT JOIN LATERAL (
    SELECT
        jsonb_agg(jsonb_build_object('role', m.role, 'content', m.content, 'timestamp', m.created_at)
                  ORDER BY m.id) AS messages,
        (array_agg(m.model_used ORDER BY m.id DESC) FILTER (WHERE m.model_used IS NOT NULL))[1]
            AS last_model_used
    FROM public.messages AS m
    WHERE m.user_id = c.user_id AND m.conversation_id = c.id AND m.deleted_at IS NULL
) AS t ON true
WHERE c.deleted_at IS NULL
"""

# --- othello (seed 004) ----------------------------------------------------------------------

# 004:44-56. id and external_id are both the user's uuid (BIGSERIAL + UUID in the seed);
# password_hash is always NULL: the hash never leaves agentkeep's database layer (a password is
# checked by users.check_password), so no client reading the view can copy it out to crack.
OTHELLO_USERS = """
CREATE VIEW othello.users WITH (security_invoker = true) AS
SELECT
    u.user_id AS id,
    u.user_id AS external_id,
    u.email,
    u.username,
    NULL::varchar(255) AS password_hash,
    u.full_name,
    u.timezone,
    u.is_active,
    u.created_at,
    u.updated_at,
    u.deleted_at
FROM public.users AS u
WHERE u.deleted_at IS NULL
"""

# 004:88-97.
OTHELLO_CONVERSATIONS = """
CREATE VIEW othello.conversations WITH (security_invoker = true) AS
SELECT
    c.id,
    c.user_id,
    c.title,
    c.is_archived,
    c.metadata,
    c.created_at,
    c.updated_at,
    c.deleted_at
FROM public.conversations AS c
WHERE c.deleted_at IS NULL
"""

# 004:109-121. role is VARCHAR here ('tool' too), the seed's ENUM message_role elsewhere.
OTHELLO_MESSAGES = """
CREATE VIEW othello.messages WITH (security_invoker = true) AS
SELECT
    m.id,
    m.conversation_id,
    m.user_id,
    m.role,
    m.content,
    m.agent_name,
    m.reasoning_trace,
    m.ethical_validation,
    m.token_count,
    m.created_at,
    m.updated_at
FROM public.messages AS m
JOIN public.conversations AS c ON c.user_id = m.user_id AND c.id = m.conversation_id
WHERE m.deleted_at IS NULL AND c.deleted_at IS NULL
"""

# 004:289-299. Only the SHA-256 of a session token is stored: session_token is its hex.
OTHELLO_SESSION_LOGS = """
CREATE VIEW othello.session_logs WITH (security_invoker = true) AS
SELECT
    s.id,
    s.user_id,
    encode(s.token_hash, 'hex')::varchar(255) AS session_token,
    s.ip_address,
    s.user_agent,
    s.started_at                               AS login_at,
    s.last_activity_at,
    s.ended_at                                 AS logout_at,
    (s.status = 'active')                      AS is_active
FROM public.user_sessions AS s
"""

# schema -> its views (name, CREATE VIEW) in creation order, and its functions (signature,
# CREATE FUNCTION). Each statement runs with search_path set to its schema, so the seed's own
# texts, which name no schema, resolve to the views of their seed.
VIEWS: dict[str, tuple[tuple[str, str], ...]] = {
    "kai": (("kai_sessions", KAI_SESSIONS),),
    "devassist": (
        ("users", DEVASSIST_USERS),
        ("user_sessions", DEVASSIST_USER_SESSIONS),
        ("agent_sessions", DEVASSIST_AGENT_SESSIONS),
        ("personas", DEVASSIST_PERSONAS),
        ("persona_activations", DEVASSIST_PERSONA_ACTIVATIONS),
        ("user_activity_summary", DEVASSIST_USER_ACTIVITY_SUMMARY),
    ),
    "agentic": (
        ("agents", AGENTIC_AGENTS),
        ("agent_sessions", AGENTIC_AGENT_SESSIONS),
        ("conversation_history", AGENTIC_CONVERSATION_HISTORY),
    ),
    "vromm": (("ai_conversations", VROMM_AI_CONVERSATIONS),),
    "othello": (
        ("users", OTHELLO_USERS),
        ("conversations", OTHELLO_CONVERSATIONS),
        ("messages", OTHELLO_MESSAGES),
        ("session_logs", OTHELLO_SESSION_LOGS),
    ),
}
FUNCTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "devassist": (("db_health_check()", DEVASSIST_DB_HEALTH_CHECK),),
}


def _in_schema(schema: str, statement: str) -> None:
    """Run ``statement`` with ``search_path`` = ``schema``, then put the caller's back."""
    op.execute("SELECT set_config('agentkeep.saved_search_path', current_setting('search_path'), true)")
    op.execute(f"SET LOCAL search_path = {schema}")
    op.execute(statement)
    op.execute("SELECT set_config('search_path', current_setting('agentkeep.saved_search_path'), true)")


def upgrade() -> None:
    for schema, views in VIEWS.items():
        op.execute(f"CREATE SCHEMA {schema}")
        op.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
        op.execute(f"GRANT USAGE ON SCHEMA {schema} TO {APP_ROLE}")
        for view, statement in views:
            _in_schema(schema, statement)
            # Already in the WITH clause of agentkeep's own views; the seed's verbatim ones lack it.
            op.execute(f"ALTER VIEW {schema}.{view} SET (security_invoker = true)")
            op.execute(f"GRANT SELECT ON {schema}.{view} TO {APP_ROLE}")
        for signature, statement in FUNCTIONS.get(schema, ()):
            _in_schema(schema, statement)
            op.execute(f"ALTER FUNCTION {schema}.{signature} SET search_path = pg_catalog")
            op.execute(f"REVOKE ALL ON FUNCTION {schema}.{signature} FROM PUBLIC")
            op.execute(f"GRANT EXECUTE ON FUNCTION {schema}.{signature} TO {APP_ROLE}")


def downgrade() -> None:
    for schema in reversed(VIEWS):
        op.execute(f"DROP SCHEMA {schema} CASCADE")
