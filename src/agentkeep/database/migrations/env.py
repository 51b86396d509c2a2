"""Alembic environment: always handed an open connection by agentkeep.database.migrate.

The declared tables come in the same way (``target_metadata``, from agentkeep.schema through
the Database): the database layer imports no domain.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata"),
    compare_type=True,
    compare_server_default=True,
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
