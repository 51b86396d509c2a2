"""First-start set-up of a cluster agentkeep manages itself: roles, database, extensions.

Runs as the superuser of the embedded server. On a database you bring (AGENTKEEP_DATABASE_URL),
the operator creates the database; the first migration creates the application role if the
owner may.
"""

from __future__ import annotations

import asyncpg

from agentkeep.database.roles import APP_ROLE, OPERATOR_ROLE, OWNER_ROLE
from agentkeep.database.urls import DatabaseUrls, asyncpg_dsn

# Role names are constants (database.roles), never input.
ENSURE_ROLES = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OPERATOR_ROLE}') THEN
        CREATE ROLE {OPERATOR_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
    END IF;
    -- The owner hands the operator functions to this role (ALTER FUNCTION ... OWNER needs it).
    IF NOT pg_has_role('{OWNER_ROLE}', '{OPERATOR_ROLE}', 'MEMBER') THEN
        GRANT {OPERATOR_ROLE} TO {OWNER_ROLE};
    END IF;
END
$$;
"""  # noqa: S608 - role names are constants, not values
# On Citus only: the operator functions' queries reach the workers over connections Citus opens
# as the function's owner, and a NOLOGIN role is refused there ("not permitted to log in", Citus
# issue #7719). Run by the cluster's superuser on the coordinator (it propagates to the workers).
# The role gets no password: the cluster's inter-node authentication (pg_dist_authinfo,
# certificates, or loopback trust as in the test cluster) is what lets it in (docs/operators.md).
CITUS_OPERATOR_LOGIN = f"ALTER ROLE {OPERATOR_ROLE} LOGIN"
# format() quotes names (%I) and literals (%L) server-side; these statements take no parameters.
SET_PASSWORD = "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)"  # noqa: S105 - SQL

DATABASE_EXISTS = "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)"
CREATE_DATABASE = f"SELECT format('CREATE DATABASE %I OWNER {OWNER_ROLE}', $1::text)"
DROP_DATABASE = "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text)"
# The application role creates no objects: no schemas, no tables, no temporary tables. Run on
# every start, so a database made by an older agentkeep is brought up to this too.
REVOKE_CREATE = "SELECT format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', $1::text)"

PREPARE_DATABASE = f"""
CREATE EXTENSION IF NOT EXISTS vector;
ALTER SCHEMA public OWNER TO {OWNER_ROLE};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
"""


async def ensure_database(urls: DatabaseUrls, database: str) -> bool:
    """Create roles and the database if missing. Returns True when the database was created."""
    assert urls.superuser is not None, "bootstrap needs the embedded server's superuser"
    admin = await asyncpg.connect(asyncpg_dsn(urls.superuser))
    try:
        await admin.execute(ENSURE_ROLES)
        for role, url in ((OWNER_ROLE, urls.owner), (APP_ROLE, urls.app)):
            if url.password is not None:
                await admin.execute(await admin.fetchval(SET_PASSWORD, role, url.password))
        if await admin.fetchval(DATABASE_EXISTS, database):
            await admin.execute(await admin.fetchval(REVOKE_CREATE, database))
            return False
        await admin.execute(await admin.fetchval(CREATE_DATABASE, database))
        await admin.execute(await admin.fetchval(REVOKE_CREATE, database))
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
