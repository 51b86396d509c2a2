"""Every encrypted column of agentkeep, gathered above the domains that declare them (like
``agentkeep.schema``): key rotation, export and erasure read this list (docs/vault.md)."""

from __future__ import annotations

from agentkeep.decisions import tables as decisions
from agentkeep.provider_keys import tables as provider_keys
from agentkeep.vault.fields import EncryptedColumns

ENCRYPTED_COLUMNS = EncryptedColumns.gather(provider_keys.ENCRYPTED_COLUMNS, decisions.ENCRYPTED_COLUMNS)
