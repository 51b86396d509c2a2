"""agents: the shared catalog of agents (seed 002 agents)."""

from __future__ import annotations

import sqlalchemy as sa

from agentkeep.database.metadata import (
    CATALOG_TABLE,
    id_column,
    jsonb,
    metadata,
    timestamps,
    version_column,
    vocabulary_column,
)

agents = sa.Table(
    "agents",
    metadata,
    id_column(),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("persona_type", sa.String(50), nullable=False),
    *vocabulary_column("agents", "persona_type", "agent_type"),
    jsonb("capabilities"),
    jsonb("config"),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    version_column(),
    *timestamps(),
    sa.UniqueConstraint("name"),
    sa.Index("ix_agents_persona_type", "persona_type", "persona_type_vocabulary"),
    sa.Index("ix_agents_capabilities", "capabilities", postgresql_using="gin"),
    info=CATALOG_TABLE,
)
