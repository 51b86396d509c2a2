"""The audit trail: one hash chain per user (and one for operator/system events), written by
triggers in the database (migration 0005, docs/audit.md)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from agentkeep.database.metadata import USER_TABLE, metadata

# The chain of catalog and operator tables and of operator actions: no user owns those rows.
OPERATOR_CHAIN = "00000000-0000-0000-0000-000000000000"
OPERATIONS = ("INSERT", "UPDATE", "DELETE", "BASELINE", "ACTION")

audit_log = sa.Table(
    "audit_log",
    metadata,
    # No foreign key to users: a user's trail outlives the user (deleting one is itself audited).
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("table_name", sa.String(100)),
    sa.Column("record_id", pg.JSONB),
    sa.Column("record_key_hash", sa.LargeBinary),
    sa.Column("operation", sa.String(10), nullable=False),
    sa.Column("actor", sa.String(20), nullable=False),
    sa.Column("acting_user_id", pg.UUID(as_uuid=True)),
    sa.Column("correlation_id", sa.String(128)),
    sa.Column("old_values", pg.JSONB),
    sa.Column("new_values", pg.JSONB),
    sa.Column("action_type", sa.String(50)),
    sa.Column("risk_level", sa.String(20)),
    sa.Column("agent_id", pg.UUID(as_uuid=True)),
    sa.Column("session_id", pg.UUID(as_uuid=True)),
    sa.Column("ip_address", pg.INET),
    sa.Column("user_agent", sa.Text),
    sa.Column("payload_hash", sa.LargeBinary, nullable=False),
    sa.Column("row_hash", sa.LargeBinary),
    sa.Column("prev_hash", sa.LargeBinary, nullable=False),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
    sa.Column("redacted_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint(
        "operation IN ('INSERT', 'UPDATE', 'DELETE', 'BASELINE', 'ACTION')", name="operation_valid"
    ),
    sa.CheckConstraint("seq > 0", name="seq_positive"),
    sa.Index("ix_audit_log_risk_level", "risk_level", postgresql_where=sa.text("risk_level IS NOT NULL")),
    info=USER_TABLE,
)

audit_chain_heads = sa.Table(
    "audit_chain_heads",
    metadata,
    sa.Column("user_id", pg.UUID(as_uuid=True), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    info=USER_TABLE,
)

AUDIT_TABLES = ("audit_log", "audit_chain_heads")
