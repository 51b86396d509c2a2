"""Revision 0012's SQL (the governance gates on agent sessions), kept apart so the revision stays
readable. Frozen with the revision: a later change goes in a new revision, never here.

The gates read the active profile's ``governance`` section from ``profiles`` (docs/governance.md)
and run as the owner (SECURITY DEFINER, search_path pinned): row-level security still holds
(FORCE), so they see the acting user's rows only, which are the session's.
"""

from __future__ import annotations

# Where a user's rows of a table are, seen from a row trigger: the table on one server; on Citus
# the trigger runs on the worker, on a shard, where a statement through the distributed table is
# refused inside the coordinator's transaction: the co-located shard (audit_shard_of, 0005).
USER_RELATION_PLAIN = """
CREATE FUNCTION governance_relation(p_table regclass, p_user_id uuid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$ SELECT p_table::text $$
"""
USER_RELATION_CITUS = """
CREATE FUNCTION governance_relation(p_table regclass, p_user_id uuid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$ SELECT audit_shard_of(p_table, p_user_id) $$
"""

# The policy a profile sets, with the values used when no profile is active.
POLICY = """
CREATE FUNCTION governance_policy() RETURNS jsonb LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
SELECT jsonb_build_object(
           'require_approval_event', false,
           'approval_event_types', '["pre_agent_spawn", "consensus_check"]'::jsonb,
           'enforcement_framework', 'emergency',
           'circuit_breaker_window_seconds', 3600)
       || coalesce((SELECT p.content -> 'governance' FROM public.profiles AS p WHERE p.is_active), '{}')
$$
"""

# One event written by the database itself (cost validation, circuit breaker): a rejection.
RECORD = """
CREATE FUNCTION governance_record(
    p_user_id uuid, p_session_id uuid, p_event_type text, p_reason text, p_details jsonb
) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %s (user_id, id, agent_session_id, event_type, framework_type, approved,'
        ' decision_details, decision_reason, created_by) VALUES ($1, $2, $3, $4, $5, false, $6, $7, $8)',
        governance_relation('public.governance_events', p_user_id))
    USING p_user_id, audit_new_id(), p_session_id, p_event_type,
          governance_policy() ->> 'enforcement_framework', p_details, p_reason, 'agentkeep';
END
$$
"""

# BEFORE INSERT OR UPDATE OF status, token_cost, max_cost_limit ON agent_sessions.
# 1. Cost: a live session whose token_cost passes its limit (its max_cost_limit, else the
#    profile's default_max_cost_limit) is moved to blocked, with a cost_validation event.
# 2. Approval (001's check_governance_approval): becoming running needs, when the profile says
#    so, that the session's latest event of the approval types is an approval.
# 3. Circuit breaker: becoming running is refused while the breaker of the user's agent type is
#    open, unless the session has an approved circuit_breaker event since it tripped.
# Each refusal is a check_violation naming its rule, as a constraint of the status column.
GATE = """
CREATE FUNCTION governance_gate() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_policy   jsonb := governance_policy();
    v_events   text := governance_relation('public.governance_events', NEW.user_id);
    v_sessions text := governance_relation('public.agent_sessions', NEW.user_id);
    v_limit    numeric := coalesce(NEW.max_cost_limit, (v_policy ->> 'default_max_cost_limit')::numeric);
    v_window   interval := make_interval(secs => (v_policy ->> 'circuit_breaker_window_seconds')::int);
    v_found    boolean;
    v_tripped  uuid;
BEGIN
    -- (a negative limit is refused by ck_agent_sessions_cost_valid, which names it)
    IF v_limit >= 0 AND NEW.token_cost > v_limit
       AND NEW.status NOT IN ('completed', 'failed', 'cancelled', 'blocked') THEN
        IF TG_OP = 'INSERT' THEN
            RAISE EXCEPTION USING
                MESSAGE = format('token_cost %s passes the cost limit %s', NEW.token_cost, v_limit)
                          || ' (rule "cost_limit", constraint "gv_agent_sessions_cost_limit")',
                ERRCODE = 'check_violation', COLUMN = 'token_cost',
                CONSTRAINT = 'gv_agent_sessions_cost_limit';
        END IF;
        NEW.status := 'blocked';
        NEW.completed_at := coalesce(NEW.completed_at, now());
        PERFORM governance_record(NEW.user_id, NEW.id, 'cost_validation',
            format('token cost %s passed the cost limit %s', NEW.token_cost, v_limit),
            jsonb_build_object('token_cost', NEW.token_cost, 'cost_limit', v_limit,
                               'limit_from', CASE WHEN NEW.max_cost_limit IS NULL
                                                  THEN 'profile' ELSE 'session' END,
                               'status_before', OLD.status));
        RETURN NEW;
    END IF;
    -- Only a start the status machine allows (from approved or paused, or an insert): other
    -- moves are refused by the transition trigger, whose message says so.
    IF NEW.status <> 'running' OR (TG_OP = 'UPDATE' AND OLD.status NOT IN ('approved', 'paused')) THEN
        RETURN NEW;
    END IF;
    IF coalesce((v_policy ->> 'require_approval_event')::boolean, false) THEN
        -- The latest decision of the approval types counts: a denial after an approval stops it.
        EXECUTE format(
            'SELECT coalesce((SELECT e.approved FROM %s AS e WHERE e.user_id = $1 AND e.agent_session_id = $2'
            ' AND e.event_type IN (SELECT jsonb_array_elements_text($3)) ORDER BY e.id DESC LIMIT 1), false)',
            v_events)
        INTO v_found USING NEW.user_id, NEW.id, v_policy -> 'approval_event_types';
        IF NOT v_found THEN
            -- 001's words first; then what is missing, and the rule.
            RAISE EXCEPTION USING
                MESSAGE = format('Agent cannot start without governance approval: agent session %s'
                                 ' has no approved %s event', NEW.id,
                                 (SELECT string_agg(t, ' or ')
                                    FROM jsonb_array_elements_text(v_policy -> 'approval_event_types') AS t))
                          || ' (rule "governance_approval",'
                          || ' constraint "gv_agent_sessions_governance_approval")',
                ERRCODE = 'check_violation', COLUMN = 'status',
                CONSTRAINT = 'gv_agent_sessions_governance_approval';
        END IF;
    END IF;
    IF v_policy ->> 'circuit_breaker_failures' IS NOT NULL THEN
        EXECUTE format(
            'SELECT e.id FROM %s AS e JOIN %s AS s ON s.user_id = e.user_id AND s.id = e.agent_session_id'
            ' WHERE e.user_id = $1 AND e.event_type = ''circuit_breaker'' AND NOT e.approved'
            ' AND e.id >= agentkeep_uuid7_floor(now() - $2) AND s.agent_type = $3 ORDER BY e.id DESC LIMIT 1',
            v_events, v_sessions)
        INTO v_tripped USING NEW.user_id, v_window, NEW.agent_type;
        IF v_tripped IS NOT NULL THEN
            EXECUTE format(
                'SELECT EXISTS (SELECT FROM %s AS e WHERE e.user_id = $1 AND e.agent_session_id = $2'
                ' AND e.event_type = ''circuit_breaker'' AND e.approved AND e.id > $3)', v_events)
            INTO v_found USING NEW.user_id, NEW.id, v_tripped;
            IF NOT v_found THEN
                RAISE EXCEPTION USING
                    MESSAGE = format('the circuit breaker of agent type %s is open since %s', NEW.agent_type,
                                     agentkeep_uuid7_time(v_tripped))
                              || ' (rule "circuit_breaker", constraint "gv_agent_sessions_circuit_breaker")',
                    ERRCODE = 'check_violation', COLUMN = 'status',
                    CONSTRAINT = 'gv_agent_sessions_circuit_breaker';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END
$$
"""

# AFTER UPDATE OF status ON agent_sessions WHEN the session has just failed: the breaker trips
# (once per window) when the user's sessions of this agent type failed often enough.
FAILURE = """
CREATE FUNCTION governance_failure() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    v_policy   jsonb := governance_policy();
    v_events   text := governance_relation('public.governance_events', NEW.user_id);
    v_sessions text := governance_relation('public.agent_sessions', NEW.user_id);
    v_limit    int := (v_policy ->> 'circuit_breaker_failures')::int;
    v_window   interval := make_interval(secs => (v_policy ->> 'circuit_breaker_window_seconds')::int);
    v_failures int;
    v_open     boolean;
BEGIN
    IF v_limit IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'SELECT count(*) FROM %s AS s WHERE s.user_id = $1 AND s.agent_type = $2 AND s.status = ''failed'''
        ' AND s.completed_at >= now() - $3', v_sessions)
    INTO v_failures USING NEW.user_id, NEW.agent_type, v_window;
    IF v_failures < v_limit THEN
        RETURN NULL;
    END IF;
    EXECUTE format(
        'SELECT EXISTS (SELECT FROM %s AS e JOIN %s AS s'
        ' ON s.user_id = e.user_id AND s.id = e.agent_session_id'
        ' WHERE e.user_id = $1 AND e.event_type = ''circuit_breaker'' AND NOT e.approved'
        ' AND e.id >= agentkeep_uuid7_floor(now() - $2) AND s.agent_type = $3)', v_events, v_sessions)
    INTO v_open USING NEW.user_id, v_window, NEW.agent_type;
    IF NOT v_open THEN
        PERFORM governance_record(NEW.user_id, NEW.id, 'circuit_breaker',
            format('%s sessions of agent type %s failed within %s', v_failures, NEW.agent_type, v_window),
            jsonb_build_object('agent_type', NEW.agent_type, 'failures', v_failures,
                               'window_seconds', (v_policy ->> 'circuit_breaker_window_seconds')::int));
    END IF;
    RETURN NULL;
END
$$
"""

# 0001's status machine, plus: approved, running and paused sessions may be blocked (the cost
# gate, an emergency stop).
TRANSITION = """
CREATE OR REPLACE FUNCTION agentkeep_agent_session_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT (OLD.status, NEW.status) IN (
            ('initializing', 'pending_approval'), ('initializing', 'approved'),
            ('initializing', 'cancelled'), ('initializing', 'failed'), ('initializing', 'blocked'),
            ('pending_approval', 'approved'), ('pending_approval', 'blocked'),
            ('pending_approval', 'cancelled'), ('pending_approval', 'failed'),
            ('approved', 'running'), ('approved', 'cancelled'), ('approved', 'failed'),
            ('approved', 'blocked'),
            ('running', 'paused'), ('running', 'completed'), ('running', 'failed'),
            ('running', 'cancelled'), ('running', 'blocked'),
            ('paused', 'running'), ('paused', 'completed'), ('paused', 'failed'),
            ('paused', 'cancelled'), ('paused', 'blocked')
        ) THEN
            RAISE EXCEPTION 'agent session cannot go from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'agent_sessions_status_transition';
        END IF;
        IF NEW.status = 'running' AND NEW.started_at IS NULL THEN
            NEW.started_at := now();
        END IF;
        IF NEW.status IN ('completed', 'failed', 'cancelled', 'blocked') THEN
            NEW.completed_at := coalesce(NEW.completed_at, now());
        END IF;
    END IF;
    RETURN NEW;
END
$$;
"""
# Revision 0001's text, put back by the downgrade.
TRANSITION_BEFORE = """
CREATE OR REPLACE FUNCTION agentkeep_agent_session_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NOT (OLD.status, NEW.status) IN (
            ('initializing', 'pending_approval'), ('initializing', 'approved'),
            ('initializing', 'cancelled'), ('initializing', 'failed'), ('initializing', 'blocked'),
            ('pending_approval', 'approved'), ('pending_approval', 'blocked'),
            ('pending_approval', 'cancelled'), ('pending_approval', 'failed'),
            ('approved', 'running'), ('approved', 'cancelled'), ('approved', 'failed'),
            ('running', 'paused'), ('running', 'completed'), ('running', 'failed'),
            ('running', 'cancelled'),
            ('paused', 'running'), ('paused', 'completed'), ('paused', 'failed'),
            ('paused', 'cancelled')
        ) THEN
            RAISE EXCEPTION 'agent session cannot go from % to %', OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'agent_sessions_status_transition';
        END IF;
        IF NEW.status = 'running' AND NEW.started_at IS NULL THEN
            NEW.started_at := now();
        END IF;
        IF NEW.status IN ('completed', 'failed', 'cancelled', 'blocked') THEN
            NEW.completed_at := coalesce(NEW.completed_at, now());
        END IF;
    END IF;
    RETURN NEW;
END
$$;
"""

# 001:359-374 over agentkeep's tables (the seed's text itself is devassist.active_agent_sessions).
ACTIVE_AGENT_SESSIONS = """
CREATE VIEW public.active_agent_sessions WITH (security_invoker = true) AS
SELECT
    a.id AS agent_session_id,
    a.user_id,
    a.agent_type,
    a.status,
    a.token_cost,
    a.created_at,
    (SELECT COUNT(*) FROM public.governance_events g
     WHERE g.user_id = a.user_id AND g.agent_session_id = a.id AND g.approved = true) AS approvals,
    (SELECT COUNT(*) FROM public.governance_events g
     WHERE g.user_id = a.user_id AND g.agent_session_id = a.id AND g.approved = false) AS rejections
FROM public.agent_sessions AS a
WHERE a.status IN ('running', 'pending_approval', 'approved')
"""

# 001:181-196 by the seed's names.
DEVASSIST_GOVERNANCE_EVENTS = """
CREATE VIEW devassist.governance_events WITH (security_invoker = true) AS
SELECT
    g.id AS event_id,
    g.agent_session_id,
    g.event_type,
    g.framework_type,
    g.approved,
    g.validation_context,
    g.decision_details,
    g.decision_reason,
    g.fallback_triggered,
    g.created_at,
    g.created_by,
    g.correlation_id
FROM public.governance_events AS g
"""

# 001:359-374 by the seed's names, over agentkeep's tables: every join has user_id, so it also runs
# on Citus, where the seed's own text (joined on agent_session_id alone) cannot be planned; on one
# server that text gives the same rows (tests/test_compat_seed_sql.py).
DEVASSIST_ACTIVE_AGENT_SESSIONS = ACTIVE_AGENT_SESSIONS.replace(
    "CREATE VIEW public.active_agent_sessions", "CREATE VIEW devassist.active_agent_sessions"
)

# An operator's emergency stop of one agent, across users: every live session of the agent is
# blocked and gets an emergency_stop event, in the caller's one transaction. Owned by the
# NOLOGIN agentkeep_operator role (0008), which may touch only what this needs.
OPERATOR_EMERGENCY_STOP = """
CREATE FUNCTION operator_emergency_stop(p_agent_id uuid, p_reason text, p_created_by text DEFAULT NULL)
RETURNS TABLE (agent_session_id uuid, user_id uuid, status_before varchar(50), event_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
#variable_conflict use_column
DECLARE
    found_row   record;
    v_status    text;
    v_framework text := public.governance_policy() ->> 'enforcement_framework';
BEGIN
    IF NOT (coalesce(current_setting('agentkeep.principal', true), '') = 'operator') THEN
        RAISE EXCEPTION 'operator_emergency_stop() needs the operator principal'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_reason IS NULL OR p_reason = '' THEN
        RAISE EXCEPTION 'operator_emergency_stop(): a reason is required'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Each session is locked, in key order (two stops never deadlock), and its status read again
    -- under the lock: a start racing the stop is either seen running (after it commits) or finds
    -- its session blocked. One row at a time: Citus locks rows only by their distribution column.
    FOR found_row IN
        SELECT a.user_id, a.id FROM public.agent_sessions AS a
        WHERE a.agent_id = p_agent_id
          AND a.status IN ('initializing', 'pending_approval', 'approved', 'running', 'paused')
        ORDER BY a.user_id, a.id
    LOOP
        SELECT a.status INTO v_status FROM public.agent_sessions AS a
        WHERE a.user_id = found_row.user_id AND a.id = found_row.id
          AND a.status IN ('initializing', 'pending_approval', 'approved', 'running', 'paused')
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        UPDATE public.agent_sessions AS a SET status = 'blocked', version = a.version + 1
        WHERE a.user_id = found_row.user_id AND a.id = found_row.id;
        event_id := public.audit_new_id();
        INSERT INTO public.governance_events AS g (user_id, id, agent_session_id, event_type, framework_type,
                                                  approved, decision_details, decision_reason, created_by)
        VALUES (found_row.user_id, event_id, found_row.id, 'emergency_stop', v_framework, false,
                jsonb_build_object('status_before', v_status, 'agent_id', p_agent_id,
                                   'by', 'operator'),
                p_reason, p_created_by);
        agent_session_id := found_row.id;
        user_id := found_row.user_id;
        status_before := v_status;
        RETURN NEXT;
    END LOOP;
END
$$
"""

# 001's active_agent_sessions for every user, for an operator: one audit entry per user returned
# (operator_audit_read, 0008), before that user's first row.
OPERATOR_ACTIVE_AGENT_SESSIONS = """
CREATE FUNCTION operator_active_agent_sessions(p_before uuid DEFAULT NULL, p_limit integer DEFAULT NULL)
RETURNS TABLE (
    agent_session_id uuid,
    user_id uuid,
    agent_type varchar(100),
    status varchar(50),
    token_cost numeric,
    created_at timestamptz,
    approvals bigint,
    rejections bigint
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
#variable_conflict use_column
DECLARE
    found_row record;
    last_user uuid;
BEGIN
    IF NOT (coalesce(current_setting('agentkeep.principal', true), '') = 'operator') THEN
        RAISE EXCEPTION 'operator_active_agent_sessions() needs the operator principal'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR found_row IN
        SELECT a.id, a.user_id, a.agent_type, a.status, a.token_cost, a.created_at,
               (SELECT COUNT(*) FROM public.governance_events g
                 WHERE g.user_id = a.user_id AND g.agent_session_id = a.id AND g.approved = true)
                 AS approvals,
               (SELECT COUNT(*) FROM public.governance_events g
                 WHERE g.user_id = a.user_id AND g.agent_session_id = a.id AND g.approved = false)
                 AS rejections
        FROM public.agent_sessions AS a
        WHERE a.status IN ('running', 'pending_approval', 'approved')
          AND (p_before IS NULL OR a.id < p_before)
        ORDER BY a.id DESC
        LIMIT p_limit
    LOOP
        -- One audit entry per user per call, before that user's first row is returned.
        IF last_user IS DISTINCT FROM found_row.user_id THEN
            PERFORM public.operator_audit_read(found_row.user_id, 'active_agent_sessions');
            last_user := found_row.user_id;
        END IF;
        agent_session_id := found_row.id;
        user_id := found_row.user_id;
        agent_type := found_row.agent_type;
        status := found_row.status;
        token_cost := found_row.token_cost;
        created_at := found_row.created_at;
        approvals := found_row.approvals;
        rejections := found_row.rejections;
        RETURN NEXT;
    END LOOP;
END
$$
"""
