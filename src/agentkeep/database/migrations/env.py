"""Alembic environment: always handed an open connection by agentkeep.database.migrate."""

from __future__ import annotations

from alembic import context

from agentkeep.database.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    compare_server_default=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
