"""Settings: read from AGENTKEEP_* variables, one-line errors naming the variable, derived URLs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from agentkeep.database.embedded import EmbeddedServer
from agentkeep.database.roles import APP_ROLE, OWNER_ROLE, SUPERUSER
from agentkeep.database.urls import DatabaseUrls
from agentkeep.errors import ConfigurationError
from agentkeep.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the AGENTKEEP_* variables it sets itself."""
    for name in list(os.environ):
        if name.upper().startswith("AGENTKEEP_"):
            monkeypatch.delenv(name)


def refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message == raised.value.detail
    assert "\n" not in message, message
    assert message.strip() == message
    return message


def test_bad_port_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, AGENTKEEP_PORT="abc")
    assert message.startswith("AGENTKEEP_PORT")
    assert len(message) > len("AGENTKEEP_PORT: ")


@pytest.mark.parametrize("value", ["0", "65536", "-1", "80.5"])
def test_port_out_of_range(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert refusal(monkeypatch, AGENTKEEP_PORT=value).startswith("AGENTKEEP_PORT:")


@pytest.mark.parametrize("value", ["not-a-url", "mysql://u@localhost/db", "postgresql://"])
def test_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    message = refusal(monkeypatch, AGENTKEEP_DATABASE_URL=value)
    assert message.startswith("AGENTKEEP_DATABASE_URL:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENTKEEP_APP_DATABASE_URL", "nope"),
        ("AGENTKEEP_DATABASE_NAME", "Bad-Name"),
        ("AGENTKEEP_MAX_REQUEST_BYTES", "10"),
        ("AGENTKEEP_POOL_SIZE", "0"),
        ("AGENTKEEP_SESSION_TTL_SECONDS", "5"),
    ],
)
def test_other_bad_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    assert refusal(monkeypatch, **{variable: value}).startswith(f"{variable}:")


def test_several_bad_values_still_give_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, AGENTKEEP_PORT="abc", AGENTKEEP_POOL_SIZE="lots")
    assert message.startswith(("AGENTKEEP_PORT:", "AGENTKEEP_POOL_SIZE:"))


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.uses_embedded_server is True
    assert settings.data_dir == Path(platformdirs.user_data_dir("agentkeep", appauthor=False))
    assert settings.database_name == "agentkeep"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.max_request_bytes == 1_048_576
    assert settings.session_ttl_seconds == 86_400


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTKEEP_DATA_DIR", str(tmp_path / "keep"))
    monkeypatch.setenv("AGENTKEEP_PORT", "9123")
    monkeypatch.setenv("AGENTKEEP_DATABASE_NAME", "other_db")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "keep"
    assert settings.port == 9123
    assert settings.database_name == "other_db"
    assert settings.uses_embedded_server is True


def test_settings_are_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    before = load_settings()
    monkeypatch.setenv("AGENTKEEP_PORT", "9001")
    assert load_settings().port == 9001
    assert before.port == 8000


def test_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_PORT", "9001")
    assert load_settings(port=9002).port == 9002
    with pytest.raises(ConfigurationError, match=r"^AGENTKEEP_PORT:"):
        load_settings(port=0)


def test_empty_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_DATABASE_URL", "")
    settings = load_settings()
    assert settings.database_url is None
    assert settings.uses_embedded_server is True


def test_data_dir_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_DATA_DIR", "~/agentkeep-data")
    assert load_settings().data_dir == Path.home() / "agentkeep-data"


def test_urls_swap_the_user_for_the_app_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_DATABASE_URL", "postgresql://keeper:s3cret@db.example.com:5433/keepdb")
    monkeypatch.setenv("AGENTKEEP_APP_PASSWORD", "app-pw")
    settings = load_settings()
    assert settings.uses_embedded_server is False
    urls = DatabaseUrls.from_settings(settings)

    assert urls.owner.drivername == "postgresql+asyncpg"
    assert urls.owner.username == "keeper"
    assert urls.owner.password == "s3cret"
    assert urls.app.drivername == "postgresql+asyncpg"
    assert urls.app.username == APP_ROLE == "agentkeep_app"
    assert urls.app.password == "app-pw"
    for url in (urls.owner, urls.app):
        assert (url.host, url.port, url.database) == ("db.example.com", 5433, "keepdb")
    assert urls.superuser is None


def test_urls_without_app_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_DATABASE_URL", "postgresql://keeper:s3cret@localhost/keepdb")
    urls = DatabaseUrls.from_settings(load_settings())
    assert urls.app.username == APP_ROLE
    assert urls.app.password is None  # never the owner's password
    assert urls.app.database == "keepdb"


def test_explicit_app_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTKEEP_DATABASE_URL", "postgresql://keeper@localhost/keepdb")
    monkeypatch.setenv("AGENTKEEP_APP_DATABASE_URL", "postgresql+asyncpg://someone:pw@replica:6543/keepdb")
    urls = DatabaseUrls.from_settings(load_settings())
    assert urls.app.drivername == "postgresql+asyncpg"
    assert (urls.app.username, urls.app.password, urls.app.host, urls.app.port) == (
        "someone",
        "pw",
        "replica",
        6543,
    )
    assert urls.owner.username == "keeper"


def test_embedded_urls(tmp_path: Path) -> None:
    passwords = {SUPERUSER: "pw-super", OWNER_ROLE: "pw-owner", APP_ROLE: "pw-app"}
    server = EmbeddedServer(pgdata=tmp_path, socket_dir=tmp_path, _handle=None, passwords=passwords)
    urls = DatabaseUrls.for_embedded(server, "keepdb")
    assert urls.owner.username == OWNER_ROLE == "agentkeep_owner"
    assert urls.app.username == APP_ROLE
    assert urls.superuser is not None
    assert urls.superuser.username == SUPERUSER == "postgres"
    assert (urls.superuser.password, urls.owner.password, urls.app.password) == (
        "pw-super",
        "pw-owner",
        "pw-app",
    )
    assert urls.owner.database == urls.app.database == "keepdb"
    assert urls.owner.query["host"] == str(tmp_path)
