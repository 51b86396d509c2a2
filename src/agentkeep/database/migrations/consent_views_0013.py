"""Revision 0013's compatibility views: seed 004's consent tables in ``othello`` (the seed's
columns in the seed's order, ENUMs as text, ``is_``-named booleans under the seed's names) and
seed 000's ``consent_audit`` in ``kai`` (000 names the table, not its columns). Read-only and
``security_invoker``, like revision 0003's. Frozen with the revision.
"""

from __future__ import annotations

from alembic import op

from agentkeep.database.roles import APP_ROLE

VIEWS = {
    "othello.consent_tiers": """
SELECT t.id, t.user_id, t.tier_level, t.scope, t.is_active, t.settings_data, t.created_at, t.updated_at
  FROM public.consent_tiers AS t
""",
    "othello.agent_activities": """
SELECT a.id, a.user_id, a.agent_name, a.activity_type, a.status, a.title, a.description, a.reasoning,
       a.is_consent_required AS consent_required, a.consent_tier_required, a.payload, a.result,
       a.executed_at, a.created_at, a.updated_at
  FROM public.agent_activities AS a
""",
    "othello.consent_logs": """
SELECT l.id, l.user_id, l.agent_activity_id, l.consent_tier_id, l.action, l.scope, l.previous_value,
       l.new_value, l.reason, l.metadata, l.created_at
  FROM public.consent_logs AS l
""",
    "othello.ethical_validations": """
SELECT v.id, v.user_id, v.message_id, v.agent_activity_id, v.validator, v.result, v.rules_applied,
       v.concerns, v.reasoning, v.is_override_allowed AS override_allowed,
       v.is_overridden_by_user AS overridden_by_user, v.metadata, v.created_at
  FROM public.ethical_validations AS v
""",
    "kai.consent_audit": """
SELECT l.id, l.user_id, l.action, l.scope, l.previous_value, l.new_value, l.reason, l.metadata,
       l.agent_activity_id, l.consent_tier_id, l.created_at
  FROM public.consent_logs AS l
""",
}

# (schema, view) of each, as tests/test_compat_schemas.py lists the served views.
COMPAT_VIEWS: tuple[tuple[str, str], ...] = tuple(
    (schema, view) for schema, _, view in (name.partition(".") for name in VIEWS)
)


def create() -> None:
    for name, body in VIEWS.items():
        op.execute(f"CREATE VIEW {name} WITH (security_invoker = true) AS {body}")
        op.execute(f"GRANT SELECT ON {name} TO {APP_ROLE}")


def drop() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW {name}")
