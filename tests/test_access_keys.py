"""Access keys: a user registered with a key in one transaction, keys only for live users,
the first-run service key, and ``last_used_at`` written when a key authenticates."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from agentkeep.access_keys.models import NewKey
from agentkeep.access_keys.repository import LAST_USED_PRECISION
from agentkeep.errors import InvalidInput, NotFound, Unauthenticated
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.users.models import NewUser


def _email() -> str:
    return f"keys-{uuid.uuid4().hex[:12]}@example.com"


async def _last_used(keep: Keep, user_id: uuid.UUID, key_id: uuid.UUID) -> Any:
    [key] = [key for key in await keep.access_keys.list(user_id) if key.id == key_id]
    return key.last_used_at


async def test_a_user_and_a_key_are_created_together(keep: Keep) -> None:
    email = _email()
    created = await keep.access_keys.create_user_with_key(NewUser(email=email), NewKey(name="laptop"))
    assert created.user.email == email
    assert created.api_key.key.user_id == created.user.user_id
    assert created.api_key.key.name == "laptop"
    assert created.api_key.secret.startswith(f"ak_{created.user.user_id.hex}_")
    assert await keep.access_keys.authenticate(created.api_key.secret) == Principal.user(created.user.user_id)
    assert [key.id for key in await keep.access_keys.list(created.user.user_id)] == [created.api_key.key.id]


async def test_a_key_that_cannot_be_stored_leaves_no_user_behind(keep: Keep) -> None:
    """One transaction: the user row is written first, so a failing key insert must undo it."""
    email = _email()
    too_long = NewKey.model_construct(name="x" * 101, expires_at=None)  # past the column's limit
    with pytest.raises(InvalidInput):
        await keep.access_keys.create_user_with_key(NewUser(email=email), too_long)
    # Emails are unique across users: had the user been kept, registering it again would conflict.
    again = await keep.users.create(NewUser(email=email))
    assert again.email == email


async def test_a_key_is_only_made_for_a_user_who_is_there(keep: Keep, make_user: Any) -> None:
    with pytest.raises(NotFound, match="user not found"):
        await keep.access_keys.create(uuid.uuid4())
    user = await make_user()
    await keep.access_keys.create(user.user_id)
    await keep.users.delete(user.user_id)
    with pytest.raises(NotFound, match="user not found"):
        await keep.access_keys.create(user.user_id)
    assert len(await keep.access_keys.list(user.user_id)) == 1  # only the key made before


async def test_the_first_run_key_is_made_only_once(keep: Keep, service_key: str) -> None:
    # The suite's database already has a service key (the fixture's): no first-run key now.
    before = await keep.access_keys.count_service_keys()
    assert before >= 1
    assert await keep.access_keys.create_first_service_key() is None
    assert await keep.access_keys.count_service_keys() == before


async def test_authenticating_writes_last_used_at_at_most_once_a_minute(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.access_keys.create(user.user_id)
    key_id = created.key.id
    assert await _last_used(keep, user.user_id, key_id) is None

    await keep.access_keys.authenticate(created.secret)
    first = await _last_used(keep, user.user_id, key_id)
    assert first is not None

    # Used again within the minute: not rewritten (no write, no row lock per request).
    await keep.access_keys.authenticate(created.secret)
    assert await _last_used(keep, user.user_id, key_id) == first

    # Once it is older than the precision, the next use brings it up to date.
    await _backdate(keep, user.user_id, key_id, LAST_USED_PRECISION + timedelta(seconds=1))
    backdated = await _last_used(keep, user.user_id, key_id)
    assert backdated < first
    await keep.access_keys.authenticate(created.secret)
    assert await _last_used(keep, user.user_id, key_id) > backdated


async def test_a_failed_authentication_writes_nothing(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.access_keys.create(user.user_id)
    wrong = created.secret[:-4] + ("AAAA" if not created.secret.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated):
        await keep.access_keys.authenticate(wrong)
    assert await _last_used(keep, user.user_id, created.key.id) is None
    await keep.access_keys.revoke(user.user_id, created.key.id)
    with pytest.raises(Unauthenticated):
        await keep.access_keys.authenticate(created.secret)
    assert await _last_used(keep, user.user_id, created.key.id) is None


async def _backdate(keep: Keep, user_id: uuid.UUID, key_id: uuid.UUID, by: timedelta) -> None:
    # The new time is computed here: Citus refuses STABLE functions of a column in an UPDATE
    # (timestamptz - interval is STABLE: it depends on the time zone).
    used = await _last_used(keep, user_id, key_id)
    async with keep.database.transaction(Principal.user(user_id)) as tx:
        await tx.driver.execute(
            "UPDATE api_keys SET last_used_at = $3 WHERE user_id = $1 AND id = $2", user_id, key_id, used - by
        )
