"""Revision 0013's SQL functions (consent tiers, consent logs, agent activities, ethical
validations), kept apart so the revision stays readable. Frozen with the revision: a later change
goes in a new revision, never here (like audit_citus_0005.py for revision 0005).

Every refusal is SQLSTATE 23514 (check_violation) and names its rule as the constraint
(``agent_activities_status_transition``, ``agent_activities_consent_tier``, …), in the message
too: Citus forwards only the message from a worker.

On Citus the triggers run on a worker, on a shard of their table, where a statement through
another distributed table is refused; ``agentkeep_colocated(table, user_id)`` names the
co-located shard there (``audit_shard_of`` of revision 0005) and the table itself elsewhere, and
the functions reach the user's other rows through it.
"""

from __future__ import annotations

TIERS = ("passive", "suggestive", "active", "autonomous")
# The default profile's consent keys when no profile was applied (default.toml 1.0.0).
FALLBACK_SCOPES = ("global",)
FALLBACK_TIER = "passive"
_FALLBACK_SCOPES = ", ".join(f"'{scope}'" for scope in FALLBACK_SCOPES)

COLOCATED_PLAIN = """
CREATE FUNCTION agentkeep_colocated(p_table regclass, p_user_id uuid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
SELECT p_table::text
$$
"""

# As the owner: audit_shard_of is not the application role's. It only names the shard; the
# statements on it run as the caller, as the rest of the caller's distributed transaction does.
COLOCATED_CITUS = """
CREATE FUNCTION agentkeep_colocated(p_table regclass, p_user_id uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
SELECT audit_shard_of(p_table, p_user_id)
$$
"""

FUNCTIONS: dict[str, str] = {
    # passive < suggestive < active < autonomous; NULL for anything else.
    "agentkeep_consent_rank(text)": f"""
CREATE FUNCTION agentkeep_consent_rank(p_tier text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT array_position(ARRAY[{", ".join(f"'{tier}'" for tier in TIERS)}]::text[], p_tier)
$$
""",
    # The scopes and tier a new user starts with: the active profile's consent keys, else the
    # default profile's; only scopes that are terms of consent_scope (the key would refuse others).
    "agentkeep_default_consent_scopes()": f"""
CREATE FUNCTION agentkeep_default_consent_scopes() RETURNS TABLE (scope text, tier_level text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
WITH wanted AS (
    SELECT coalesce(
               (SELECT p.content -> 'consent' FROM public.profiles AS p WHERE p.is_active),
               jsonb_build_object('default_scopes', jsonb_build_array({_FALLBACK_SCOPES}),
                                  'default_tier', '{FALLBACK_TIER}')
           ) AS consent
)
SELECT s.scope, coalesce(w.consent ->> 'default_tier', '{FALLBACK_TIER}')
  FROM wanted AS w
 CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(w.consent -> 'default_scopes', '[]')) AS s(scope)
 WHERE EXISTS (SELECT FROM public.vocabulary_terms AS t
                WHERE t.vocabulary = 'consent_scope' AND t.term = s.scope)
$$
""",  # noqa: S608 - constants of this module
    # What the active profile requires for an activity type to proceed without asking. No rule
    # (or no profile): the highest tier and trust level, so the activity always asks.
    "agentkeep_activity_rule(text)": """
CREATE FUNCTION agentkeep_activity_rule(p_activity_type text, OUT tier text, OUT trust_level integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
SELECT coalesce(r.rule ->> 'tier', 'autonomous'), coalesce((r.rule ->> 'trust_level')::integer, 4)
  FROM (SELECT (SELECT p.content -> 'consent' -> 'activities' -> p_activity_type
                  FROM public.profiles AS p WHERE p.is_active) AS rule) AS r
$$
""",
    "agentkeep_consent_log(uuid,uuid,uuid,text,text,text,text,text,jsonb)": """
CREATE FUNCTION agentkeep_consent_log(
    p_user_id uuid, p_activity_id uuid, p_tier_id uuid, p_action text, p_scope text,
    p_previous text, p_new text, p_reason text, p_metadata jsonb
) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
-- As the caller: row-level security admits only the acting user's rows (ids: audit_new_id(),
-- UUIDv7, which revision 0013 lets the application role call).
BEGIN
    EXECUTE format(
        'INSERT INTO %s (user_id, id, agent_activity_id, consent_tier_id, action, scope,'
        ' previous_value, new_value, reason, metadata)'
        ' VALUES ($1, audit_new_id(), $2, $3, $4, $5, $6, $7, $8, $9)',
        agentkeep_colocated('public.consent_logs', p_user_id))
    USING p_user_id, p_activity_id, p_tier_id, p_action, p_scope, p_previous, p_new, p_reason,
          coalesce(p_metadata, '{}'::jsonb);
END
$$
""",
    # BEFORE INSERT OR UPDATE on consent_tiers: every tier and settings change is logged with the
    # value before and after, in the same statement, whoever writes (SDK, REST, raw SQL). The
    # reason travels in change_reason and is not kept on the row (a later change without one
    # must not repeat it).
    "agentkeep_consent_tier_log()": """
CREATE FUNCTION agentkeep_consent_tier_log() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM agentkeep_consent_log(NEW.user_id, NULL, NEW.id, 'tier_changed', NEW.scope,
            NULL, CASE WHEN NEW.is_active THEN NEW.tier_level END, NEW.change_reason,
            jsonb_build_object('created', true, 'is_active', NEW.is_active));
        NEW.change_reason := NULL;
        RETURN NEW;
    END IF;
    IF NEW.scope IS DISTINCT FROM OLD.scope THEN
        RAISE EXCEPTION 'consent tier %: its scope is fixed (constraint "consent_tiers_scope_fixed")', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'consent_tiers_scope_fixed';
    END IF;
    IF (NEW.tier_level, NEW.is_active) IS DISTINCT FROM (OLD.tier_level, OLD.is_active) THEN
        PERFORM agentkeep_consent_log(NEW.user_id, NULL, NEW.id, 'tier_changed', NEW.scope,
            CASE WHEN OLD.is_active THEN OLD.tier_level END,
            CASE WHEN NEW.is_active THEN NEW.tier_level END, NEW.change_reason,
            jsonb_build_object('is_active', NEW.is_active));
    END IF;
    IF NEW.settings_data IS DISTINCT FROM OLD.settings_data THEN
        PERFORM agentkeep_consent_log(NEW.user_id, NULL, NEW.id, 'settings_updated', NEW.scope,
            OLD.settings_data::text, NEW.settings_data::text, NEW.change_reason, '{}'::jsonb);
    END IF;
    NEW.change_reason := NULL;
    RETURN NEW;
END
$$
""",
    # BEFORE INSERT on agent_activities: an activity starts as proposed, and carries what the
    # active profile requires for its type (a caller may ask for more, never for less).
    "agentkeep_agent_activity_proposed()": """
CREATE FUNCTION agentkeep_agent_activity_proposed() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
    v_rule record;
BEGIN
    IF NEW.status IS DISTINCT FROM 'proposed' THEN
        RAISE EXCEPTION USING
            MESSAGE = format('agent activity must start as proposed, not %s'
                             ' (constraint "agent_activities_status_transition")', NEW.status),
            ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_status_transition';
    END IF;
    SELECT r.tier, r.trust_level INTO v_rule FROM agentkeep_activity_rule(NEW.activity_type) AS r;
    IF NEW.consent_tier_required IS NULL
       OR agentkeep_consent_rank(NEW.consent_tier_required) < agentkeep_consent_rank(v_rule.tier) THEN
        NEW.consent_tier_required := v_rule.tier;
    END IF;
    NEW.trust_level_required := greatest(NEW.trust_level_required, v_rule.trust_level);
    NEW.executed_at := NULL;
    NEW.consent_reason := NULL;
    RETURN NEW;
END
$$
""",
    # BEFORE UPDATE on agent_activities: the status machine, the gates of approval without
    # asking, the ethics block on execution, and the consent log of approvals and denials.
    "agentkeep_agent_activity_transition()": """
CREATE FUNCTION agentkeep_agent_activity_transition() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
    v_tier    text;
    v_trust   integer;
    v_blocked boolean;
BEGIN
    IF (NEW.activity_type, NEW.scope, NEW.consent_tier_required, NEW.trust_level_required,
        NEW.agent_name, NEW.agent_session_id)
       IS DISTINCT FROM
       (OLD.activity_type, OLD.scope, OLD.consent_tier_required, OLD.trust_level_required,
        OLD.agent_name, OLD.agent_session_id) THEN
        RAISE EXCEPTION USING
            MESSAGE = format('agent activity %s: its agent, agent session, type, scope, required tier'
                             ' and trust level are fixed once proposed'
                             ' (constraint "agent_activities_terms_fixed")', OLD.id),
            ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_terms_fixed';
    END IF;
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
        NEW.consent_reason := NULL;
        RETURN NEW;
    END IF;
    IF NOT (OLD.status, NEW.status) IN (
        ('proposed', 'pending_consent'), ('proposed', 'approved'), ('proposed', 'rejected'),
        ('pending_consent', 'approved'), ('pending_consent', 'rejected'),
        ('approved', 'executed'), ('approved', 'failed')
    ) THEN
        RAISE EXCEPTION USING
            MESSAGE = format('agent activity cannot go from %s to %s'
                             ' (constraint "agent_activities_status_transition")', OLD.status, NEW.status),
            ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_status_transition';
    END IF;
    IF OLD.status = 'proposed' AND NEW.status = 'approved' THEN
        -- Without asking: the scope's tier must reach the required one, and the agent session's
        -- trust level the required one. FOR SHARE: a tier change waits for this decision.
        EXECUTE format('SELECT tier_level FROM %s WHERE user_id = $1 AND scope = $2 AND is_active'
                       ' FOR SHARE', agentkeep_colocated('public.consent_tiers', NEW.user_id))
           INTO v_tier USING NEW.user_id, NEW.scope;
        IF coalesce(agentkeep_consent_rank(v_tier), 0)
           < agentkeep_consent_rank(NEW.consent_tier_required) THEN
            RAISE EXCEPTION USING
                MESSAGE = format('agent activity cannot be approved without asking: consent tier for'
                                 ' scope %s is %s, %s needs %s (constraint "agent_activities_consent_tier")',
                                 NEW.scope, coalesce(v_tier, 'none'), NEW.activity_type,
                                 NEW.consent_tier_required),
                ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_consent_tier';
        END IF;
        IF NEW.agent_session_id IS NOT NULL THEN
            EXECUTE format('SELECT trust_level FROM %s WHERE user_id = $1 AND id = $2 FOR SHARE',
                           agentkeep_colocated('public.agent_sessions', NEW.user_id))
               INTO v_trust USING NEW.user_id, NEW.agent_session_id;
        END IF;
        IF coalesce(v_trust, 0) < NEW.trust_level_required THEN
            RAISE EXCEPTION USING
                MESSAGE = format('agent activity cannot be approved without asking: agent trust level'
                                 ' is %s, %s needs %s (constraint "agent_activities_trust_level")',
                                 coalesce(v_trust, 0), NEW.activity_type, NEW.trust_level_required),
                ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_trust_level';
        END IF;
    END IF;
    IF NEW.status = 'pending_consent' THEN
        NEW.is_consent_required := true;
    END IF;
    IF NEW.status = 'executed' THEN
        EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE user_id = $1 AND agent_activity_id = $2'
                       ' AND result = ''blocked'' AND NOT is_overridden_by_user)',
                       agentkeep_colocated('public.ethical_validations', NEW.user_id))
           INTO v_blocked USING NEW.user_id, NEW.id;
        IF v_blocked THEN
            RAISE EXCEPTION USING
                MESSAGE = format('agent activity %s is blocked by an ethical validation and cannot'
                                 ' execute (constraint "agent_activities_ethics_block")', NEW.id),
                ERRCODE = 'check_violation', CONSTRAINT = 'agent_activities_ethics_block';
        END IF;
        NEW.executed_at := coalesce(NEW.executed_at, now());
    END IF;
    IF NEW.status IN ('approved', 'rejected') THEN
        PERFORM agentkeep_consent_log(NEW.user_id, NEW.id, NULL,
            CASE NEW.status WHEN 'approved' THEN 'approved' ELSE 'denied' END, NEW.scope,
            OLD.status, NEW.status, NEW.consent_reason,
            jsonb_build_object('automatic', OLD.status = 'proposed',
                               'activity_type', NEW.activity_type, 'agent_name', NEW.agent_name));
    END IF;
    NEW.consent_reason := NULL;
    RETURN NEW;
END
$$
""",
    # BEFORE INSERT OR UPDATE on ethical_validations of an activity: lock the activity row, so a
    # blocking validation and the activity's execution are ordered (one sees the other).
    "agentkeep_ethical_validation_lock()": """
CREATE FUNCTION agentkeep_ethical_validation_lock() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.agent_activity_id IS NOT NULL THEN
        EXECUTE format('SELECT FROM %s WHERE user_id = $1 AND id = $2 FOR UPDATE',
                       agentkeep_colocated('public.agent_activities', NEW.user_id))
          USING NEW.user_id, NEW.agent_activity_id;
    END IF;
    RETURN NEW;
END
$$
""",
}

# (trigger, table, timing and events, function)
TRIGGERS = (
    ("trg_consent_tiers_log", "consent_tiers", "BEFORE INSERT OR UPDATE", "agentkeep_consent_tier_log()"),
    (
        "trg_agent_activities_proposed",
        "agent_activities",
        "BEFORE INSERT",
        "agentkeep_agent_activity_proposed()",
    ),
    (
        "trg_agent_activities_transition",
        "agent_activities",
        "BEFORE UPDATE",
        "agentkeep_agent_activity_transition()",
    ),
    (
        "trg_ethical_validations_lock",
        "ethical_validations",
        "BEFORE INSERT OR UPDATE OF agent_activity_id, result, is_overridden_by_user",
        "agentkeep_ethical_validation_lock()",
    ),
)
