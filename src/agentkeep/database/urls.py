"""Connection URLs for the three principals agentkeep connects as."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from agentkeep.settings import APP_ROLE, OWNER_ROLE, Settings

SUPERUSER = "postgres"


@dataclass(frozen=True)
class DatabaseUrls:
    owner: URL
    app: URL
    superuser: URL | None = None

    @classmethod
    def for_embedded(cls, socket_dir: Path, database: str) -> DatabaseUrls:
        def url(user: str, db: str) -> URL:
            return URL.create(
                "postgresql+asyncpg", username=user, database=db, query={"host": str(socket_dir)}
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
