"""Connection URLs for the three principals agentkeep connects as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

from agentkeep.database.roles import APP_ROLE, OWNER_ROLE, SUPERUSER
from agentkeep.settings import Settings

if TYPE_CHECKING:
    from agentkeep.database.embedded import EmbeddedServer

__all__ = ["SUPERUSER", "DatabaseUrls", "asyncpg_dsn"]


@dataclass(frozen=True)
class DatabaseUrls:
    owner: URL
    app: URL
    superuser: URL | None = None

    @classmethod
    def for_embedded(cls, server: EmbeddedServer, database: str) -> DatabaseUrls:
        """URLs over the server's socket, with each role's password (``server.passwords``)."""

        def url(user: str, db: str) -> URL:
            return URL.create(
                "postgresql+asyncpg",
                username=user,
                password=server.passwords.get(user),
                database=db,
                query={"host": str(server.socket_dir)},
            )

        return cls(
            owner=url(OWNER_ROLE, database), app=url(APP_ROLE, database), superuser=url(SUPERUSER, "postgres")
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> DatabaseUrls:
        assert settings.database_url is not None
        owner = make_url(str(settings.database_url)).set(drivername="postgresql+asyncpg")
        if settings.app_database_url is not None:
            app = make_url(str(settings.app_database_url)).set(drivername="postgresql+asyncpg")
        else:
            # URL.set(password=None) keeps the old password: build the URL anew instead.
            app = URL.create(
                owner.drivername,
                username=APP_ROLE,
                password=settings.app_password,
                host=owner.host,
                port=owner.port,
                database=owner.database,
                query=owner.query,
            )
        return cls(owner=owner, app=app)


def asyncpg_dsn(url: URL) -> str:
    """The same URL in the form asyncpg and psycopg take."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
