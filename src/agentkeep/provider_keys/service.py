"""Provider API keys (seed 003's encrypted_api_keys): set, list (masked), reveal, delete.

The key is sealed by the vault under the user's data key, bound to (user, provider_api_keys,
encrypted_key, provider, key version); only ``reveal`` opens it, for the acting user.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import InvalidInput, NotFound
from agentkeep.models import error_field, error_message
from agentkeep.provider_keys import repository
from agentkeep.provider_keys.models import NewProviderKey, ProviderKey
from agentkeep.provider_keys.tables import ENCRYPTED_COLUMNS
from agentkeep.vault.keyring import Keyring

_COLUMN = ENCRYPTED_COLUMNS[0]


class ProviderKeyService:
    def __init__(self, database: Database, keyring: Keyring) -> None:
        self._database = database
        self._keyring = keyring

    async def set(self, actor: Actor, provider: str, api_key: str | SecretStr) -> ProviderKey:
        """Store (or replace) the user's key for ``provider`` (a term of the ``ai_provider``
        vocabulary); returns it masked."""
        try:
            new = NewProviderKey(provider=provider, api_key=api_key)
        except ValidationError as exc:
            # Not pydantic's own text: it quotes the input, here the key.
            first = exc.errors()[0]
            field = error_field(first["loc"])
            raise InvalidInput(f"{field}: {error_message(first)}", field=field) from None
        secret = new.api_key.get_secret_value()
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            sealed = await self._keyring.seal(
                tx.driver, user_id, _COLUMN.table, _COLUMN.column, new.provider, secret.encode()
            )
            row = await repository.upsert(
                tx.conn,
                {
                    "user_id": user_id,
                    "provider": new.provider,
                    "encrypted_key": sealed,
                    "key_last4": secret[-4:],
                },
            )
        return ProviderKey.model_validate(dict(row))

    async def list(self, actor: Actor) -> list[ProviderKey]:
        async with self._database.transaction(as_principal(actor)) as tx:
            rows = await repository.list_all(tx.conn, acting_user(actor))
        return [ProviderKey.model_validate(dict(row)) for row in rows]

    async def reveal(self, actor: Actor, provider: str) -> SecretStr:
        """The key itself, for its owner (the acting user) only; a SecretStr, so that printing
        or logging the result by accident shows nothing."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            envelope = await repository.envelope(tx.conn, user_id, provider)
            if envelope is None:
                raise NotFound(f"no {provider!r} key stored", field="provider")
            plaintext = await self._keyring.unseal(
                tx.driver, user_id, _COLUMN.table, _COLUMN.column, provider, envelope
            )
        return SecretStr(plaintext.decode())

    async def delete(self, actor: Actor, provider: str) -> None:
        async with self._database.transaction(as_principal(actor)) as tx:
            if not await repository.delete(tx.conn, acting_user(actor), provider):
                raise NotFound(f"no {provider!r} key stored", field="provider")
