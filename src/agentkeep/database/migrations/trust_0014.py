"""Revision 0014's SQL functions (trust earned from decision outcomes), kept apart so the revision
stays readable. Frozen with the revision: a later change goes in a new revision, never here.

Every statement names its tables through ``trust_rel``: on one server that is the table; on
Citus, where these run in triggers on a worker's shard of the user's rows (the decisions trigger,
and the demotion request that ``trust_demote`` inserts), it is the co-located shard of the same
user: a write through the distributed table is refused there (docs/audit.md "Citus"), and one
made from the coordinator as another role would bar the caller's own later queries.
"""

from __future__ import annotations

from agentkeep.database.roles import APP_ROLE

# default.toml's [trust] rules, frozen: what holds while no profile is applied, and for every
# key a profile applied before this revision does not have.
DEFAULT_RULES = (
    '{"initial_level": 0, "promotion_after_successes": 5, "promotion_min_success_rate": 0.8,'
    ' "promotion_clean_window": 5, "demotion_after_rejections": 3, "max_earned_level": 4}'
)

# The active profile's [trust] rules over the frozen defaults (so a key it lacks has its default).
TRUST_RULES = """
CREATE FUNCTION trust_rules() RETURNS jsonb LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
SELECT CAST(:defaults AS jsonb)
       || coalesce((SELECT p.content -> 'trust' FROM public.profiles AS p WHERE p.is_active), '{}'::jsonb)
$$
""".replace(":defaults", "'" + DEFAULT_RULES + "'")

TRUST_REL_PLAIN = """
CREATE FUNCTION trust_rel(p_table regclass, p_user_id uuid) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, public AS $$
SELECT p_table::text
$$
"""

TRUST_REL_CITUS = """
CREATE FUNCTION trust_rel(p_table regclass, p_user_id uuid) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, public AS $$
SELECT CASE WHEN to_regclass(audit_shard_of(p_table, p_user_id)) IS NOT NULL
            THEN audit_shard_of(p_table, p_user_id) ELSE p_table::text END
$$
"""

FUNCTIONS = {
    "trust_rules()": TRUST_RULES,
    # A level change: the level, the per-level counters restarted, and the (user, agent)'s live
    # sessions (finished ones keep the level they ran with).
    "trust_set_level(uuid,uuid,smallint)": """
CREATE FUNCTION trust_set_level(p_user_id uuid, p_agent_id uuid, p_to smallint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format(
        'UPDATE %s AS t SET level = $3, level_outcomes = 0, level_approved = 0,'
        ' rejection_streak = CASE WHEN $3 < t.level THEN 0 ELSE t.rejection_streak END,'
        ' level_changed_at = clock_timestamp(), version = t.version + 1'
        ' WHERE t.user_id = $1 AND t.agent_id = $2', trust_rel('public.agent_trust_levels', p_user_id))
        USING p_user_id, p_agent_id, p_to;
    EXECUTE format(
        'UPDATE %s AS s SET trust_level = $3, version = s.version + 1'
        ' WHERE s.user_id = $1 AND s.agent_id = $2 AND s.trust_level <> $3'
        ' AND s.status NOT IN (''completed'', ''failed'', ''cancelled'')',
        trust_rel('public.agent_sessions', p_user_id))
        USING p_user_id, p_agent_id, p_to;
END
$$
""",
    # ... and its history row.
    "trust_change_level(uuid,uuid,smallint,smallint,text,text,uuid)": """
CREATE FUNCTION trust_change_level(
    p_user_id uuid, p_agent_id uuid, p_from smallint, p_to smallint, p_rule text, p_reason text,
    p_decision_id uuid
) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM trust_set_level(p_user_id, p_agent_id, p_to);
    EXECUTE format(
        'INSERT INTO %s (user_id, id, agent_id, from_level, to_level, rule, reason, decision_id)'
        ' VALUES ($1, audit_new_id(), $2, $3, $4, $5, $6, $7)',
        trust_rel('public.agent_trust_changes', p_user_id))
        USING p_user_id, p_agent_id, p_from, p_to, p_rule, left(p_reason, 1000), p_decision_id;
END
$$
""",
    # One outcome (a decision's feedback set, changed or cleared): the running aggregates, the
    # rules, and the trust metrics. O(1): one locked row, no scan of earlier decisions.
    "trust_apply_outcome(uuid,uuid,uuid,uuid,text,text)": """
CREATE FUNCTION trust_apply_outcome(
    p_user_id uuid, p_agent_id uuid, p_session_id uuid, p_decision_id uuid, p_old text, p_new text
) RETURNS smallint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r          jsonb := trust_rules();
    v_trust    text := trust_rel('public.agent_trust_levels', p_user_id);
    v_metrics  text := trust_rel('public.trust_metrics', p_user_id);
    v_at       timestamptz := clock_timestamp();
    v_n        int := (r ->> 'promotion_after_successes')::int;
    v_rate     numeric := (r ->> 'promotion_min_success_rate')::numeric;
    v_window   int := (r ->> 'promotion_clean_window')::int;
    v_k        int := (r ->> 'demotion_after_rejections')::int;
    v_max      int := least((r ->> 'max_earned_level')::int, 4);
    t          record;
    v_level    smallint;
    v_to       smallint;
    v_rule     text;
    v_reason   text;
    v_p        numeric;
    v_lower    numeric := 0;
    v_autonomy numeric;
    z2         constant numeric := 3.8416;  -- 1.96²: the 95% Wilson interval
BEGIN
    EXECUTE format(
        'INSERT INTO %s (user_id, agent_id, level) VALUES ($1, $2, $3)'
        ' ON CONFLICT (user_id, agent_id) DO NOTHING', v_trust)
        USING p_user_id, p_agent_id, least(greatest((r ->> 'initial_level')::int, 0), 4);
    -- The row lock queues every other outcome of this (user, agent) until commit.
    EXECUTE format(
        'UPDATE %s AS t SET'
        ' outcomes = greatest(t.outcomes + $3, 0),'
        ' approved = greatest(t.approved + $4, 0),'
        ' rejected = greatest(t.rejected + $5, 0),'
        ' modified = greatest(t.modified + $6, 0),'
        ' level_outcomes = greatest(t.level_outcomes + $3, 0),'
        ' level_approved = greatest(t.level_approved + $4, 0),'
        ' rejection_streak = CASE WHEN $7 IS NULL THEN t.rejection_streak'
        '   WHEN $7 = ''rejected'' THEN t.rejection_streak + 1 ELSE 0 END,'
        ' since_rejection = CASE WHEN $7 IS NULL THEN t.since_rejection'
        '   WHEN $7 = ''rejected'' THEN 0 ELSE t.since_rejection + 1 END,'
        ' last_outcome_at = $8, version = t.version + 1'
        ' WHERE t.user_id = $1 AND t.agent_id = $2 RETURNING t.*', v_trust)
        INTO t
        USING p_user_id, p_agent_id,
              (p_new IS NOT NULL)::int - (p_old IS NOT NULL)::int,
              coalesce((p_new = 'approved')::int, 0) - coalesce((p_old = 'approved')::int, 0),
              coalesce((p_new = 'rejected')::int, 0) - coalesce((p_old = 'rejected')::int, 0),
              coalesce((p_new = 'modified')::int, 0) - coalesce((p_old = 'modified')::int, 0),
              p_new, v_at;
    v_level := t.level;
    v_to := v_level;
    IF p_new = 'rejected' AND v_k IS NOT NULL AND t.rejection_streak >= v_k AND v_level > 0 THEN
        v_to := v_level - 1;
        v_rule := 'rejection_streak';
        v_reason := format('%s consecutive rejections (demotion_after_rejections = %s)',
                           t.rejection_streak, v_k);
    ELSIF p_new IS NOT NULL AND p_new <> 'rejected' AND v_n IS NOT NULL AND v_level < v_max
          AND t.level_approved >= v_n
          AND t.level_approved >= v_rate * t.level_outcomes
          AND t.since_rejection >= least(v_window, t.outcomes) THEN
        v_to := v_level + 1;
        v_rule := 'promotion';
        v_reason := format(
            '%s of %s decisions approved at level %s (promotion_after_successes = %s, '
            'promotion_min_success_rate = %s), no rejection in the last %s',
            t.level_approved, t.level_outcomes, v_level, v_n, v_rate, least(v_window, t.outcomes));
    END IF;
    IF v_to <> v_level THEN
        PERFORM trust_change_level(p_user_id, p_agent_id, v_level, v_to, v_rule, v_reason, p_decision_id);
    END IF;

    -- Accuracy: the lower bound of the 95% Wilson interval of the approval rate, in percent: it
    -- rises with the evidence (1 of 1 approved is 20.65, 5 of 5 is 56.55), where the plain rate
    -- would read 100 after one approval. The plain rate is in the context.
    IF t.outcomes > 0 THEN
        v_p := t.approved::numeric / t.outcomes;
        v_lower := (v_p + z2 / (2 * t.outcomes)
                    - sqrt(z2) * sqrt((v_p * (1 - v_p) + z2 / (4 * t.outcomes)) / t.outcomes))
                   / (1 + z2 / t.outcomes);
    END IF;
    -- Autonomy: 25 per level, plus the way to the next level made (approvals at this level of N).
    v_autonomy := 25 * v_to;
    IF v_to < v_max AND v_n IS NOT NULL AND v_to = v_level THEN
        v_autonomy := v_autonomy + 25 * least(t.level_approved, v_n)::numeric / v_n;
    END IF;
    EXECUTE format(
        'INSERT INTO %s (user_id, id, agent_session_id, agent_id, metric_type, metric_value,'
        ' measurement_context, recorded_at) VALUES'
        ' ($1, audit_new_id(), $2, $3, ''accuracy'', $4, $6, $8),'
        ' ($1, audit_new_id(), $2, $3, ''autonomy'', $5, $7, $8)', v_metrics)
        USING p_user_id, p_session_id, p_agent_id,
              round(100 * greatest(v_lower, 0), 2), round(least(v_autonomy, 100), 2),
              jsonb_build_object(
                  'source', 'decision_outcome', 'decision_id', p_decision_id, 'feedback', p_new,
                  'previous_feedback', p_old, 'approved', t.approved, 'rejected', t.rejected,
                  'modified', t.modified, 'outcomes', t.outcomes,
                  'approval_rate', CASE WHEN t.outcomes > 0 THEN round(100 * v_p, 2) END,
                  'basis', 'wilson_lower_95'),
              jsonb_build_object(
                  'source', 'decision_outcome', 'decision_id', p_decision_id, 'level', v_to,
                  'level_approved', CASE WHEN v_to = v_level THEN t.level_approved ELSE 0 END,
                  'promotion_after_successes', v_n),
              v_at;
    RETURN v_to;
END
$$
""",
    # AFTER INSERT OR UPDATE OF user_feedback ON decisions. A decision of no agent session, or of
    # a session that names no agent, has no (user, agent) to earn trust for.
    "trust_decision_feedback()": """
CREATE FUNCTION trust_decision_feedback() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
DECLARE
    v_old   text;
    v_agent uuid;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        v_old := OLD.user_feedback;
    END IF;
    IF v_old IS NOT DISTINCT FROM NEW.user_feedback OR NEW.agent_session_id IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT s.agent_id FROM %s AS s WHERE s.user_id = $1 AND s.id = $2',
                   trust_rel('public.agent_sessions', NEW.user_id))
        INTO v_agent USING NEW.user_id, NEW.agent_session_id;
    IF v_agent IS NOT NULL THEN
        PERFORM trust_apply_outcome(NEW.user_id, v_agent, NEW.agent_session_id, NEW.id, v_old,
                                    NEW.user_feedback);
    END IF;
    RETURN NULL;
END
$$
""",
    # BEFORE INSERT OR UPDATE OF agent_id, trust_level ON agent_sessions: a session of an agent
    # with a trust record takes its level; before the first outcome the written level stands.
    "trust_session_level()": """
CREATE FUNCTION trust_session_level() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
DECLARE
    v_level smallint;
BEGIN
    IF NEW.agent_id IS NULL THEN
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT t.level FROM %s AS t WHERE t.user_id = $1 AND t.agent_id = $2',
                   trust_rel('public.agent_trust_levels', NEW.user_id))
        INTO v_level USING NEW.user_id, NEW.agent_id;
    IF v_level IS NOT NULL THEN
        NEW.trust_level := v_level;
    END IF;
    RETURN NEW;
END
$$
""",
    # A demotion is asked for by inserting a history row whose levels are still equal (the
    # application role may insert only that): this BEFORE INSERT trigger, on the user's own node
    # (on Citus a worker's shard, like the decisions trigger), fills in the levels and lowers the
    # level, or drops the row when the level is already 0.
    "trust_demotion_request()": """
CREATE FUNCTION trust_demotion_request() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $$
DECLARE
    v_trust text := trust_rel('public.agent_trust_levels', NEW.user_id);
    v_level smallint;
BEGIN
    IF NEW.from_level <> NEW.to_level THEN
        RETURN NEW;  -- a change the trust functions record
    END IF;
    EXECUTE format(
        'INSERT INTO %s (user_id, agent_id, level) VALUES ($1, $2, $3)'
        ' ON CONFLICT (user_id, agent_id) DO NOTHING', v_trust)
        USING NEW.user_id, NEW.agent_id, least(greatest((trust_rules() ->> 'initial_level')::int, 0), 4);
    EXECUTE format('SELECT t.level FROM %s AS t WHERE t.user_id = $1 AND t.agent_id = $2 FOR UPDATE', v_trust)
        INTO v_level USING NEW.user_id, NEW.agent_id;
    IF v_level IS NULL OR v_level = 0 THEN
        RETURN NULL;  -- nowhere lower: nothing is recorded
    END IF;
    PERFORM trust_set_level(NEW.user_id, NEW.agent_id, (v_level - 1)::smallint);
    NEW.id := audit_new_id();
    NEW.from_level := v_level;
    NEW.to_level := v_level - 1;
    NEW.decision_id := NULL;
    RETURN NEW;
END
$$
""",
    # The hook for a blocked ethical validation (or a demotion by hand): one level down, never
    # below 0, recorded with the reason; returns the level after. As the caller (row-level
    # security keeps it to the acting user's agents), through the request above.
    "trust_demote(uuid,uuid,text,text)": """
CREATE FUNCTION trust_demote(
    p_user_id uuid, p_agent_id uuid, p_reason text, p_rule text DEFAULT 'ethical_block'
) RETURNS smallint LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE
    v_level smallint;
BEGIN
    IF p_rule IS NULL OR p_rule NOT IN ('ethical_block', 'demotion') THEN
        RAISE EXCEPTION 'rule: % is not ethical_block or demotion', quote_nullable(p_rule)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_reason IS NULL OR length(p_reason) NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'reason: give 1 to 1000 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO public.agent_trust_changes (user_id, id, agent_id, from_level, to_level, rule, reason)
    VALUES (p_user_id, gen_random_uuid(), p_agent_id, 0, 0, p_rule, p_reason)
    RETURNING to_level INTO v_level;
    RETURN coalesce(v_level, 0);
END
$$
""",
    # agent_trust_levels and its history are earned, not written: the application role may read them;
    # only the functions above (SECURITY DEFINER, run as the owner) change them.
    "trust_guard()": f"""
CREATE FUNCTION trust_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
BEGIN
    IF current_user = '{APP_ROLE}' THEN
        -- Only a demotion request (trust_demote): equal levels, which trust_demotion_request fills in.
        IF TG_OP = 'INSERT' AND TG_ARGV[0] = 'agent_trust_changes' THEN
            IF NEW.from_level = NEW.to_level AND NEW.rule IN ('ethical_block', 'demotion') THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION '%: written only by the trust functions (docs/trust.md)', TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$
""",
}
# The application may call the hook; the rest run only from the triggers and the hook.
CALLABLE = ("trust_demote(uuid,uuid,text,text)", "trust_rules()")

AGENTIC_TRUST_METRICS = """
CREATE VIEW agentic.trust_metrics WITH (security_invoker = true) AS
SELECT
    m.id                    AS metric_id,
    m.agent_session_id      AS session_id,
    m.metric_type           AS metric_type,
    m.metric_value          AS metric_value,
    m.measurement_context   AS measurement_context,
    m.recorded_at           AS recorded_at
FROM public.trust_metrics AS m
"""
