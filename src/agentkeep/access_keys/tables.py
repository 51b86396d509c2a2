"""API keys of users (user table) and service keys of operators (operator table).

Only a SHA-256 of each secret is stored. A user key carries its owner's id, so authentication
runs as that user under row-level security like every other read.
"""

from __future__ import annotations

import sqlalchemy as sa

from agentkeep.database.metadata import (
    CREDENTIAL_COLUMN,
    OPERATOR_TABLE,
    USER_TABLE,
    id_column,
    metadata,
    timestamps,
    user_id_column,
)


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False, info=CREDENTIAL_COLUMN),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        *timestamps(),
    ]


api_keys = sa.Table(
    "api_keys",
    metadata,
    user_id_column(),
    id_column(),
    *_key_columns(),
    sa.CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_sha256"),
    sa.UniqueConstraint("user_id", "secret_hash"),
    info=USER_TABLE,
)

service_keys = sa.Table(
    "service_keys",
    metadata,
    id_column(),
    *_key_columns(),
    sa.CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_sha256"),
    sa.UniqueConstraint("secret_hash"),
    info=OPERATOR_TABLE,
)

# Operator keys read across users (through the operator functions only). A table of their own,
# not a flag on service_keys: no UPDATE of a service key, by anyone, can turn it into one.
operator_keys = sa.Table(
    "operator_keys",
    metadata,
    id_column(),
    *_key_columns(),
    sa.CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_sha256"),
    sa.UniqueConstraint("secret_hash"),
    info=OPERATOR_TABLE,
)
