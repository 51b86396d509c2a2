"""Users: registration, password hashing, optimistic locking, soft delete."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agentkeep.errors import Conflict, InvalidInput, NotFound, StaleVersion
from agentkeep.keep import Keep
from agentkeep.principal import Principal
from agentkeep.users.models import NewUser, UserUpdate


async def test_a_password_is_kept_only_as_an_argon2_hash(keep: Keep, make_user: Any, as_app: Any) -> None:
    user = await make_user(password="correct horse battery")
    assert user.has_password
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE user_id = $1", user.user_id)
    assert stored.startswith("$argon2id$")
    assert await keep.users.check_password(user.user_id, "correct horse battery")
    assert not await keep.users.check_password(user.user_id, "wrong horse")


async def test_email_and_username_are_unique_ignoring_case(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    with pytest.raises(Conflict) as taken:
        await keep.users.create(NewUser(email=user.email.upper()))
    assert taken.value.field == "email"
    with pytest.raises(Conflict):
        await keep.users.create(NewUser(email="other-" + user.email, username=user.username.upper()))


async def test_updates_need_the_current_version(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    updated = await keep.users.update(
        user.user_id, UserUpdate(version=1, full_name="Ada", timezone="Europe/Stockholm")
    )
    assert (updated.full_name, updated.timezone, updated.version) == ("Ada", "Europe/Stockholm", 2)
    with pytest.raises(StaleVersion):
        await keep.users.update(user.user_id, UserUpdate(version=1, full_name="Grace"))
    assert (await keep.users.get(user.user_id)).full_name == "Ada"


async def test_a_deleted_user_is_gone_from_reads(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    await keep.users.delete(user.user_id)
    with pytest.raises(NotFound):
        await keep.users.get(user.user_id)
    # The address is free again for a new registration.
    again = await keep.users.create(NewUser(email=user.email))
    assert again.user_id != user.user_id


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "a@example.com", "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "a@example.com", "username": "has space"}, "username"),
        ({"email": "a@example.com", "password": "short"}, "password"),
    ],
)
def test_bad_user_input_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        NewUser(**fields)
    assert refused.value.errors()[0]["loc"][0] == field


async def test_a_malformed_user_id_is_refused_before_any_sql(keep: Keep) -> None:
    with pytest.raises(InvalidInput, match="is not a user id"):
        await keep.users.get("1'; DROP TABLE users; --")  # type: ignore[arg-type]
