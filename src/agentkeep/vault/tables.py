"""vault_keys (seed 000): each user's data keys, stored only wrapped by the master key; and
vault_master_keys: which master key the data keys are wrapped with, and how to tell it."""

from __future__ import annotations

import sqlalchemy as sa

from agentkeep.database.metadata import (
    CREDENTIAL_COLUMN,
    OPERATOR_TABLE,
    USER_TABLE,
    metadata,
    one_of,
    timestamps,
    user_id_column,
)

KEY_STATES = ("active", "rotating", "retired", "destroyed")
"""active: seals new values (one per user); rotating: being replaced by `keys rotate`, still opens
values; retired: no value refers to it any more; destroyed: its wrapped key is gone (erasure)."""

vault_keys = sa.Table(
    "vault_keys",
    metadata,
    user_id_column(),
    sa.Column("version", sa.Integer, primary_key=True),
    # AES-GCM of the data key under the master key; NULL once destroyed. Never the key itself.
    sa.Column("wrapped_key", sa.LargeBinary, info=CREDENTIAL_COLUMN),
    sa.Column("master_key_id", sa.String(200), nullable=False),
    sa.Column("master_version", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default=sa.text("'active'")),
    *timestamps(),
    one_of("state", KEY_STATES, "state_valid"),
    sa.CheckConstraint("version > 0 AND master_version > 0", name="versions_positive"),
    sa.CheckConstraint("(state = 'destroyed') = (wrapped_key IS NULL)", name="destroyed_has_no_key"),
    # One active key per user: the one new values are sealed under.
    sa.Index("uq_vault_keys_active", "user_id", unique=True, postgresql_where=sa.text("state = 'active'")),
    info=USER_TABLE,
)

MASTER_STATES = ("active", "retired")

vault_master_keys = sa.Table(
    "vault_master_keys",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key_id", sa.String(200), nullable=False),
    # A known value wrapped by this master key: opening it proves the key given at start is this
    # one before any data key is touched. Says nothing about the key itself.
    sa.Column("check_value", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, server_default=sa.text("'active'")),
    *timestamps(),
    one_of("state", MASTER_STATES, "state_valid"),
    sa.CheckConstraint("version > 0", name="version_positive"),
    sa.Index(
        "uq_vault_master_keys_active", "state", unique=True, postgresql_where=sa.text("state = 'active'")
    ),
    info=OPERATOR_TABLE,
)
