"""Seed schema: users (001, 004, 003 auth.users) and user_sessions (001, 004 session_logs, 000).

docs/seed-mapping.md names these tests, row by row. Every test runs against the real embedded
PostgreSQL; raw SQL runs as the application role (row-level security on) inside a transaction
that is rolled back, so the rows it writes never outlive it.
"""

from __future__ import annotations

import json
import secrets

import pytest
from asyncpg.exceptions import (
    CheckViolationError,
    InvalidTextRepresentationError,
    UniqueViolationError,
)

from agentkeep.errors import Conflict, SessionExpired
from agentkeep.ids import new_id
from agentkeep.principal import Principal
from agentkeep.user_sessions.models import NewUserSession
from seed_helpers import (
    act_as,
    add_user_row,
    add_user_session,
    count,
    refused,
    sha256_bytes,
    suffix,
)

# ---------------------------------------------------------------------------------------------
# users (seed 001 users, seed 004 users; seed 000 vault_keys' user_id; seed 003 auth.users)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x@y.c", "two@@example.com", "sp ace@x.io"])
async def test_users_email_format_is_checked(as_app, email: str) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            email,
        )
        assert error.constraint_name == "ck_users_email_format"
        await conn.execute(
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            "Jamie.R+ak@example.co.uk",
        )
        assert await count(conn, "users", user_id) == 1


async def test_users_email_is_unique_case_insensitively(as_app, make_user) -> None:
    """Uniqueness lives in user_emails, keyed by the lower-cased address (migration 0002)."""
    existing = await make_user()
    async with as_app(Principal.user(new_id())) as conn:
        other = new_id()
        await act_as(conn, other)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO user_emails (email, user_id) VALUES (lower($1), $2)",
            existing.email.upper(),
            other,
        )
        assert error.constraint_name == "pk_user_emails"
        # The holder stays hidden: another user sees no handle of theirs.
        assert await conn.fetchval("SELECT count(*) FROM user_emails") == 0


async def test_users_email_is_reusable_after_soft_delete(keep, make_user) -> None:
    email = f"gone-{suffix()}@example.com"
    first = await make_user(email=email)
    with pytest.raises(Conflict):
        await make_user(email=email.upper())
    await keep.users.delete(first.user_id)
    second = await make_user(email=email)
    assert second.email == email and second.user_id != first.user_id


async def test_users_username_is_unique_case_insensitively_and_optional(as_app, make_user) -> None:
    existing = await make_user()
    async with as_app(Principal.user(new_id())) as conn:
        other = new_id()
        await act_as(conn, other)
        error = await refused(
            conn,
            UniqueViolationError,
            "INSERT INTO user_usernames (username, user_id) VALUES (lower($1), $2)",
            existing.username.upper(),
            other,
        )
        assert error.constraint_name == "pk_user_usernames"
        # seed 004: username is optional; many users may have none.
        first = await add_user_row(conn)
        second = await add_user_row(conn)
        for user_id in (first, second):
            await act_as(conn, user_id)
            assert await conn.fetchval("SELECT username FROM users WHERE user_id = $1", user_id) is None
    assert (await make_user(username=None)).username is None
    assert (await make_user(username=None)).username is None


async def test_users_defaults_match_seeds(as_app) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        await conn.execute(
            "INSERT INTO users (user_id, email) VALUES ($1, $2)",
            user_id,
            f"d-{suffix()}@example.com",
        )
        row = await conn.fetchrow("SELECT *, now() AS now FROM users WHERE user_id = $1", user_id)
    assert row["auth_provider"] == "local"
    assert row["timezone"] == "UTC"
    assert json.loads(row["preferences_json"]) == {}
    assert row["is_active"] is True
    assert row["version"] == 1
    assert row["created_at"] == row["updated_at"] == row["last_active_at"] == row["now"]
    assert row["deleted_at"] is None
    assert row["password_hash"] is None
    assert row["auth_external_id"] is None
    assert row["full_name"] is None


async def test_password_is_stored_as_argon2id_hash(as_app, make_user) -> None:
    """004 users.password_hash: only a hash is stored (Argon2id, by the SDK)."""
    password = "correct horse battery staple"
    user = await make_user(password=password)
    async with as_app(Principal.user(user.user_id)) as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE user_id = $1", user.user_id)
    assert stored.startswith("$argon2id$")
    assert password not in stored


async def test_users_version_must_be_positive(as_app) -> None:
    user_id = new_id()
    async with as_app(Principal.user(user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO users (user_id, email, version) VALUES ($1, $2, 0)",
            user_id,
            f"v-{suffix()}@example.com",
        )
        assert error.constraint_name == "ck_users_version_positive"


# ---------------------------------------------------------------------------------------------
# user_sessions (001 user_sessions, 004 session_logs, 000 session_tokens)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1", "::ffff:192.0.2.10"])
async def test_user_sessions_ip_address_is_inet(as_app, make_user, address: str) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id, ip_address=address, user_agent="Mozilla/5.0")
        row = await conn.fetchrow(
            "SELECT host(ip_address) AS host, family(ip_address) AS family, user_agent "
            "FROM user_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
        await refused(
            conn,
            InvalidTextRepresentationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at, ip_address) "
            "VALUES ($1, $2, $3, now() + interval '1 hour', $4::text::inet)",
            user.user_id,
            new_id(),
            sha256_bytes(),
            "not-an-ip",
        )
    assert row["host"] == address
    assert row["family"] == (6 if ":" in address else 4)
    assert row["user_agent"] == "Mozilla/5.0"


async def test_user_sessions_store_only_a_sha256_of_the_token(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        token_hash = sha256_bytes()
        await add_user_session(conn, user.user_id, token_hash=token_hash)
        sql = (
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at) "
            "VALUES ($1, $2, $3, now() + interval '1 hour')"
        )
        error = await refused(conn, UniqueViolationError, sql, user.user_id, new_id(), token_hash)
        assert error.constraint_name == "uq_user_sessions_user_id_token_hash"
        for not_a_digest in (b"raw-session-token", secrets.token_bytes(64)):
            error = await refused(conn, CheckViolationError, sql, user.user_id, new_id(), not_a_digest)
            assert error.constraint_name == "ck_user_sessions_token_hash_sha256"


async def test_user_sessions_defaults_match_seeds(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        login = await add_user_session(conn, user.user_id)
        row = await conn.fetchrow(
            "SELECT *, now() AS now FROM user_sessions WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
    assert row["status"] == "active"
    assert row["session_type"] == "interactive"
    assert json.loads(row["session_context"]) == {}
    assert row["started_at"] == row["last_activity_at"] == row["now"]
    assert row["ended_at"] is None
    assert row["expires_at"] > row["started_at"]
    assert row["version"] == 1


@pytest.mark.parametrize(
    ("status", "ended", "constraint"),
    [
        ("ended", False, "ck_user_sessions_ended_iff_not_active"),
        ("expired", False, "ck_user_sessions_ended_iff_not_active"),
        ("active", True, "ck_user_sessions_ended_iff_not_active"),
        ("logged_in", True, "ck_user_sessions_status_valid"),
    ],
)
async def test_user_sessions_status_and_ended_at_agree(
    as_app, make_user, status: str, ended: bool, constraint: str
) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at, status, ended_at) "
            "VALUES ($1, $2, $3, now() + interval '1 hour', $4, CASE WHEN $5 THEN now() END)",
            user.user_id,
            new_id(),
            sha256_bytes(),
            status,
            ended,
        )
        assert error.constraint_name == constraint
        # The legal pairs: logout sets ended_at with the status.
        login = await add_user_session(conn, user.user_id)
        result = await conn.execute(
            "UPDATE user_sessions SET status = 'ended', ended_at = now() WHERE user_id = $1 AND id = $2",
            user.user_id,
            login,
        )
    assert result == "UPDATE 1"


async def test_user_sessions_expire_after_they_start(as_app, make_user) -> None:
    user = await make_user()
    async with as_app(Principal.user(user.user_id)) as conn:
        error = await refused(
            conn,
            CheckViolationError,
            "INSERT INTO user_sessions (user_id, id, token_hash, expires_at) VALUES ($1, $2, $3, now())",
            user.user_id,
            new_id(),
            sha256_bytes(),
        )
    assert error.constraint_name == "ck_user_sessions_expires_after_start"


async def test_expired_user_session_token_is_refused(keep, database, make_user) -> None:
    """004 "expire inactive sessions": an overdue token is refused and the session marked."""
    user = await make_user()
    started = await keep.user_sessions.start(
        user.user_id, NewUserSession(ip_address="2001:db8::2", user_agent="pytest")
    )
    assert (await keep.user_sessions.touch(user.user_id, started.token)).status == "active"
    async with database.transaction(Principal.user(user.user_id)) as tx:
        await tx.driver.execute(
            "UPDATE user_sessions SET started_at = now() - interval '2 hours', "
            "last_activity_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' "
            "WHERE user_id = $1 AND id = $2",
            user.user_id,
            started.session.id,
        )
    with pytest.raises(SessionExpired):
        await keep.user_sessions.touch(user.user_id, started.token)
    after = await keep.user_sessions.get(user.user_id, started.session.id)
    assert after.status == "expired"
    assert after.ended_at is not None
    assert after.ip_address == "2001:db8::2"
