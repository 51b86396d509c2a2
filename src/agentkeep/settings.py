"""Runtime configuration, read from ``AGENTKEEP_*`` environment variables when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, PostgresDsn, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentkeep.database.roles import APP_ROLE
from agentkeep.errors import ConfigurationError
from agentkeep.models import SessionTtl, error_message


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("agentkeep", appauthor=False))


class Settings(BaseSettings):
    """Every knob agentkeep reads. Construct with :func:`load_settings` to get one-line errors."""

    model_config = SettingsConfigDict(env_prefix="AGENTKEEP_", extra="ignore")

    database_url: PostgresDsn | None = Field(
        default=None,
        description=(
            "PostgreSQL (>= 15; pgvector for the memory features to come) for a role that may own "
            "the schema. "
            "Unset: the embedded server in data_dir is used."
        ),
    )
    app_database_url: PostgresDsn | None = Field(
        default=None,
        description=(
            "Connection for the application role. Unset: database_url with the user "
            f"replaced by {APP_ROLE!r} and the password by app_password."
        ),
    )
    app_password: str | None = Field(default=None, description="Password of the application role.")
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "agentkeep"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    max_request_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    session_ttl_seconds: SessionTtl = 86_400
    partition_months_ahead: Annotated[int, Field(ge=0, le=36)] = Field(
        default=3,
        description="Monthly partitions the server keeps made ahead of this month (docs/partitions.md).",
    )
    partition_maintenance_seconds: Annotated[float, Field(ge=0)] = Field(
        default=86_400,
        description="Seconds between the server's partition passes; 0: only `agentkeep partitions ensure`.",
    )
    profile: str | None = Field(
        default=None,
        description=(
            "The profile this deployment runs: a shipped name (default, kai, devassist, agentic, "
            "vromm, othello) or a path to a profile file. Set: `agentkeep up` applies it, and "
            "serving or connecting refuses a database with another profile. Unset: `up` applies "
            "default; nothing else checks."
        ),
    )

    archive_dir: Path | None = Field(
        default=None,
        description="Where `agentkeep retention run` writes its archives. Unset: data_dir/archive.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description=(
            "The vault's master key: 32 bytes, base64. Unset: AGENTKEEP_MASTER_KEY_FILE, else "
            "data_dir/master.key (made on first use, owner-only; docs/vault.md)."
        ),
    )
    master_key_file: Path | None = Field(
        default=None,
        description="A file holding the master key (base64 of 32 bytes), readable by its owner only.",
    )
    retention_interval_seconds: Annotated[float, Field(ge=0)] = Field(
        default=86_400,
        description="How often the server runs retention (0: never; the CLI still can).",
    )

    @field_validator("database_url", "app_database_url", "profile", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("master_key", "master_key_file", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("archive_dir", mode="before")
    @classmethod
    def _empty_archive_dir_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def archive_folder(self) -> Path:
        return (self.archive_dir or self.data_dir / "archive").expanduser()

    @property
    def default_master_key_file(self) -> Path:
        return self.data_dir / "master.key"

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None


def load_settings(**overrides: object) -> Settings:
    """Read settings now; a bad value becomes one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        variable = f"AGENTKEEP_{field.upper()}"
        raise ConfigurationError(f"{variable}: {error_message(first)}") from None
