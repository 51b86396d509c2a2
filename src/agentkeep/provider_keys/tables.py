"""provider_api_keys (seed 003 user_ai_settings.encrypted_api_keys): one sealed key per provider."""

from __future__ import annotations

import sqlalchemy as sa

from agentkeep.database.metadata import USER_TABLE, metadata, timestamps, user_id_column, vocabulary_column
from agentkeep.vault.fields import EncryptedColumn

_provider_vocabulary, _provider_terms = vocabulary_column("provider_api_keys", "provider", "ai_provider")

provider_api_keys = sa.Table(
    "provider_api_keys",
    metadata,
    user_id_column(),
    sa.Column("provider", sa.String(50), primary_key=True),
    _provider_vocabulary,
    # A vault envelope (docs/vault.md): the key itself is never stored in clear.
    sa.Column("encrypted_key", sa.LargeBinary, nullable=False),
    # What lists show, so a user can tell keys apart without revealing one.
    sa.Column("key_last4", sa.String(4), nullable=False),
    *timestamps(),
    _provider_terms,
    sa.Index("ix_provider_api_keys_provider", "provider", "provider_vocabulary"),
    info=USER_TABLE,
)

ENCRYPTED_COLUMNS = (EncryptedColumn("provider_api_keys", "encrypted_key", ("user_id", "provider")),)
