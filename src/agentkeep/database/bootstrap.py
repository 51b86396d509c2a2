"""First-start set-up of a cluster agentkeep manages itself: roles, database, extensions.

Runs as the superuser of the embedded server. On a database you bring (AGENTKEEP_DATABASE_URL),
the operator creates the database; the first migration creates the application role if the
owner may.
"""

from __future__ import annotations

import asyncpg

from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn

# Role names are constants of this module's text, never input.
ENSURE_ROLES = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agentkeep_owner') THEN
        CREATE ROLE agentkeep_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'agentkeep_app') THEN
        CREATE ROLE agentkeep_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
END
$$;
"""

DATABASE_EXISTS = "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)"
# format(%I) quotes the name server-side; the statement itself cannot take a parameter.
CREATE_DATABASE = "SELECT format('CREATE DATABASE %I OWNER agentkeep_owner', $1::text)"
DROP_DATABASE = "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)"

PREPARE_DATABASE = """
CREATE EXTENSION IF NOT EXISTS vector;
ALTER SCHEMA public OWNER TO agentkeep_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"""


async def ensure_database(urls: DatabaseUrls, database: str) -> bool:
    """Create roles and the database if missing. Returns True when the database was created."""
    assert urls.superuser is not None, "bootstrap needs the embedded server's superuser"
    admin = await asyncpg.connect(asyncpg_dsn(urls.superuser))
    try:
        await admin.execute(ENSURE_ROLES)
        if await admin.fetchval(DATABASE_EXISTS, database):
            return False
        await admin.execute(await admin.fetchval(CREATE_DATABASE, database))
    finally:
        await admin.close()
    in_database = await asyncpg.connect(asyncpg_dsn(urls.superuser.set(database=database)))
    try:
        await in_database.execute(PREPARE_DATABASE)
    finally:
        await in_database.close()
    return True


async def drop_database(urls: DatabaseUrls, database: str) -> None:
    assert urls.superuser is not None
    admin = await asyncpg.connect(asyncpg_dsn(urls.superuser))
    try:
        await admin.execute(await admin.fetchval(DROP_DATABASE, database))
    finally:
        await admin.close()
