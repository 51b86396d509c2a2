"""Operator keys: made only with the owner's connection, never by the application role or a user.

An operator key stands for the operator principal (no user), is shown once, can be listed
without its secret and revoked; the transaction it opens sets ``agentkeep.principal`` to
``operator``.
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from agentkeep.database.engine import principal_settings
from agentkeep.errors import InvalidInput, NotFound, Unauthenticated
from agentkeep.keep import Keep
from agentkeep.principal import Principal, PrincipalKind
from agentkeep.tokens import digest
from compat_helpers import AsApp


async def test_operator_key_stands_for_the_operator_until_revoked(keep: Keep) -> None:
    created = await keep.access_keys.create_operator_key("ops")
    assert created.secret.startswith("ako_")
    assert created.key.user_id is None and created.key.name == "ops"
    principal = await keep.access_keys.authenticate(created.secret)
    assert principal == Principal.operator()
    assert principal.kind is PrincipalKind.OPERATOR and principal.user_id is None
    listed = {key.id: key for key in await keep.access_keys.list_operator_keys()}
    assert listed[created.key.id].revoked_at is None
    assert created.secret not in repr(listed[created.key.id])
    revoked = await keep.access_keys.revoke_operator_key(created.key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated, match="operator key"):
        await keep.access_keys.authenticate(created.secret)
    with pytest.raises(NotFound):
        await keep.access_keys.revoke_operator_key(created.key.id)  # once only


async def test_operator_key_acts_for_no_user_and_unknown_ones_fail(keep: Keep) -> None:
    created = await keep.access_keys.create_operator_key()
    with pytest.raises(InvalidInput) as refused:
        await keep.access_keys.authenticate(created.secret, acting_for=uuid.uuid4())
    assert refused.value.field == "X-Agentkeep-User"
    with pytest.raises(Unauthenticated):
        await keep.access_keys.authenticate("ako_" + "x" * 40)


def test_operator_transaction_sets_the_operator_principal() -> None:
    assert principal_settings(Principal.operator()) == ["SET LOCAL agentkeep.principal = 'operator'"]


@pytest.mark.parametrize("who", ["user", "service", "operator"])
async def test_application_role_cannot_write_operator_keys(as_app: AsApp, keep: Keep, who: str) -> None:
    """No key the API hands out (user, service or operator) can mint or change an operator key."""
    principal = {
        "user": Principal.user(uuid.uuid4()),
        "service": Principal.service(),
        "operator": Principal.operator(),
    }[who]
    existing = await keep.access_keys.create_operator_key("target")
    async with as_app(principal) as conn:
        for statement, args in (
            (
                "INSERT INTO operator_keys (id, name, secret_hash) VALUES ($1, 'minted', $2)",
                (uuid.uuid4(), digest("ako_minted")),
            ),
            (
                "UPDATE operator_keys SET revoked_at = NULL, expires_at = NULL WHERE id = $1",
                (existing.key.id,),
            ),
            ("DELETE FROM operator_keys WHERE id = $1", (existing.key.id,)),
            ("INSERT INTO operator_keys SELECT * FROM service_keys", ()),
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with conn.transaction():
                    await conn.execute(statement, *args)
