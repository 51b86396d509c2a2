"""Every table of agentkeep, gathered on one MetaData, above the domains that declare them.

This is what the database layer is told about the tables (it imports no domain itself): Alembic
compares migrations with ``metadata``, ``agentkeep doctor`` checks the tables of each tenancy,
and error translation names fields from ``SCHEMA.constraint_fields``.
"""

from __future__ import annotations

import sqlalchemy as sa

from agentkeep.access_keys.tables import api_keys, service_keys
from agentkeep.activities.tables import RULE_FIELDS as ACTIVITY_RULE_FIELDS
from agentkeep.activities.tables import agent_activities, ethical_validations
from agentkeep.agent_sessions.tables import agent_sessions
from agentkeep.agents.tables import agents
from agentkeep.audit.tables import audit_chain_heads, audit_log
from agentkeep.consent.tables import consent_logs, consent_tiers
from agentkeep.conversations.tables import conversations
from agentkeep.database.declared import DeclaredSchema, constraint_fields
from agentkeep.database.metadata import metadata, vocabulary_check_name, vocabulary_columns
from agentkeep.decisions.tables import decisions, onboarding_answers
from agentkeep.governance.tables import RULE_FIELDS as GOVERNANCE_RULE_FIELDS
from agentkeep.governance.tables import governance_events
from agentkeep.messages.tables import messages
from agentkeep.personas.tables import persona_activations, personas
from agentkeep.profiles.tables import profiles, vocabulary_terms
from agentkeep.provider_keys.tables import provider_api_keys
from agentkeep.trust.tables import agent_trust_changes, agent_trust_levels, trust_metrics
from agentkeep.user_sessions.tables import user_sessions
from agentkeep.users.tables import users
from agentkeep.vault.tables import vault_keys, vault_master_keys

__all__ = [
    "SCHEMA",
    "agent_activities",
    "agent_sessions",
    "agent_trust_changes",
    "agent_trust_levels",
    "agents",
    "api_keys",
    "audit_chain_heads",
    "audit_log",
    "consent_logs",
    "consent_tiers",
    "conversations",
    "decisions",
    "ethical_validations",
    "governance_events",
    "messages",
    "metadata",
    "onboarding_answers",
    "persona_activations",
    "personas",
    "profiles",
    "provider_api_keys",
    "service_keys",
    "tables_by_tenancy",
    "trust_metrics",
    "user_sessions",
    "users",
    "vault_keys",
    "vault_master_keys",
    "vocabulary_terms",
]

# The vocabulary triggers (migration 0004) name no real constraint; their errors say
# 'constraint "vk_<table>_<column>"' so that the field is found on Citus too, where only the
# message reaches the client.
SCHEMA = DeclaredSchema(
    metadata=metadata,
    constraint_fields={
        **constraint_fields(metadata),
        **{vocabulary_check_name(table, column): column for table, column, _ in vocabulary_columns(metadata)},
        **ACTIVITY_RULE_FIELDS,
        **GOVERNANCE_RULE_FIELDS,
    },
)


def tables_by_tenancy(tenancy: str) -> list[sa.Table]:
    return SCHEMA.tables_by_tenancy(tenancy)
