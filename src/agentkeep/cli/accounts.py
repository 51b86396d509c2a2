"""``agentkeep users``, ``agentkeep keys`` and ``agentkeep operator-key``: users and their keys."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from pydantic import ValidationError

from agentkeep.access_keys.models import ApiKey, CreatedKey, NewKey, UserWithKey
from agentkeep.cli.output import (
    USAGE_ERROR,
    JsonOption,
    describe,
    fail,
    out,
    print_json,
    print_line,
    run,
    settings,
    table,
    with_keep,
)
from agentkeep.keep import Keep
from agentkeep.users.models import NewUser, User

users_app = typer.Typer(no_args_is_help=True, help="Manage users.")
keys_app = typer.Typer(
    no_args_is_help=True, help="Create API keys and service keys; rotate the vault's data and master keys."
)
operator_keys_app = typer.Typer(
    no_args_is_help=True, help="Create, list and revoke operator keys (cross-user reads, /api/operator)."
)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="The user's email address.")],
    username: Annotated[str | None, typer.Option()] = None,
    full_name: Annotated[str | None, typer.Option()] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "UTC",
    with_key: Annotated[bool, typer.Option(help="Also create an API key for the user.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a user and print its id (and, with --with-key, an API key shown once)."""
    try:
        new = NewUser(email=email, username=username, full_name=full_name, timezone=timezone)
    except ValidationError as exc:
        fail(describe(exc))

    async def work(keep: Keep) -> User | UserWithKey:
        if with_key:
            return await keep.access_keys.create_user_with_key(new)
        return await keep.users.create(new)

    created = run(with_keep(settings(), work))
    user, key = (created.user, created.api_key) if isinstance(created, UserWithKey) else (created, None)
    if as_json:
        print_json({"user": user.model_dump(mode="json"), "api_key": _key_document(key)})
        return
    print_line(f"user_id {user.user_id}")
    if key is not None:
        print_line(f"api_key {key.secret}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str | None, typer.Option(help="Create an API key for this user id.")] = None,
    service: Annotated[bool, typer.Option("--service", help="Create a service key instead.")] = False,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "cli",
    as_json: JsonOption = False,
) -> None:
    """Create an API key for a user, or a service key; the key is printed once."""
    if service == (user is not None):
        fail("give exactly one of --user ID or --service", status=USAGE_ERROR)
    user_id: uuid.UUID | None = None
    if user is not None:
        try:
            user_id = uuid.UUID(user)
        except ValueError:
            fail(f"--user: {user!r} is not a UUID")
    try:
        new = NewKey(name=name)
    except ValidationError as exc:
        fail(f"--{describe(exc)}")

    async def work(keep: Keep) -> CreatedKey:
        if user_id is None:
            return await keep.access_keys.create_service_key(new.name)
        return await keep.access_keys.create(user_id, new)

    created = run(with_keep(settings(), work))
    if as_json:
        print_json(_key_document(created))
    else:
        print_line(created.secret)


@operator_keys_app.command("create")
def operator_key_create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "operator",
    as_json: JsonOption = False,
) -> None:
    """Create an operator key; it is printed once (only its SHA-256 is stored)."""
    try:
        new = NewKey(name=name)
    except ValidationError as exc:
        fail(f"--{describe(exc)}")

    async def work(keep: Keep) -> CreatedKey:
        return await keep.access_keys.create_operator_key(new.name)

    created = run(with_keep(settings(), work))
    if as_json:
        print_json(_key_document(created))
    else:
        print_line(created.secret)


@operator_keys_app.command("list")
def operator_key_list(as_json: JsonOption = False) -> None:
    """List operator keys (never their secrets)."""

    async def work(keep: Keep) -> list[ApiKey]:
        return await keep.access_keys.list_operator_keys()

    keys = run(with_keep(settings(), work))
    if as_json:
        print_json([key.model_dump(mode="json") for key in keys])
        return
    listing = table("id", "name", "created", "last used", "revoked")
    for key in keys:
        listing.add_row(
            str(key.id), key.name, str(key.created_at), str(key.last_used_at or ""), str(key.revoked_at or "")
        )
    out.print(listing)


@operator_keys_app.command("revoke")
def operator_key_revoke(key_id: Annotated[str, typer.Argument(help="The id of the key.")]) -> None:
    """Revoke an operator key: it stops working at once."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail(f"key_id: {key_id!r} is not a UUID")

    async def work(keep: Keep) -> ApiKey:
        return await keep.access_keys.revoke_operator_key(parsed)

    revoked = run(with_keep(settings(), work))
    print_line(f"revoked {revoked.id}")


def _key_document(created: CreatedKey | None) -> dict[str, object] | None:
    if created is None:
        return None
    return {**created.key.model_dump(mode="json"), "secret": created.secret}
