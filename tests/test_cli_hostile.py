"""Hostile settings found by probing the CLI after issue 5: one ``error:`` line, exit 1.

A session lifetime the clock cannot add (AGENTKEEP_SESSION_TTL_SECONDS of 10**14) used to be
accepted at start and then fail every session start with a 500; it is refused where it is read,
with the same limit a request's ttl_seconds has (declared once: ``agentkeep.models.SessionTtl``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agentkeep.database.engine import Database
from agentkeep.errors import ConfigurationError
from agentkeep.keep import Keep
from agentkeep.settings import load_settings
from agentkeep.user_sessions.models import NewUserSession
from cli_support import cli, one_error_line


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENTKEEP_SESSION_TTL_SECONDS", "99999999999999"),
        ("AGENTKEEP_SESSION_TTL_SECONDS", "59"),
        ("AGENTKEEP_POOL_SIZE", "0"),
        ("AGENTKEEP_PORT", "abc"),
        ("AGENTKEEP_MAX_REQUEST_BYTES", "-5"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = cli(tmp_path, "doctor", **{variable: value})
    assert result.returncode == 1, result.stdout + result.stderr
    assert variable in one_error_line(result)


async def test_the_longest_session_lifetime_the_settings_allow_can_be_started(
    database: Database, make_user: Callable[..., Any]
) -> None:
    longest = 31_536_000
    keep = Keep(database, load_settings(session_ttl_seconds=longest))
    started = await keep.user_sessions.start((await make_user()).user_id, NewUserSession())
    assert (started.session.expires_at - started.session.started_at).days == 365
    with pytest.raises(ConfigurationError, match="AGENTKEEP_SESSION_TTL_SECONDS"):
        load_settings(session_ttl_seconds=longest + 1)
    with pytest.raises(ValidationError, match="ttl_seconds"):
        NewUserSession(ttl_seconds=longest + 1)
