"""``agentkeep profile``: show, diff and schema need no database; a bad file is one line, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from agentkeep.profiles.loader import load_profile
from agentkeep.profiles.model import json_schema
from cli_support import cli, one_error_line


def test_show_prints_the_resolved_profile_with_its_sources(tmp_path: Path) -> None:
    shown = cli(tmp_path, "profile", "show", "vromm", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == load_profile("vromm").content
    table = cli(tmp_path, "profile", "show", "vromm")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "quotas.reset_time_zone" in line)
    assert "Europe/Stockholm" in row and "midnight Swedish time" in row


def test_diff_lists_the_differing_terms(tmp_path: Path) -> None:
    result = cli(tmp_path, "profile", "diff", "default", "agentic")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "agent_type: -assistant -companion -reality_check -validator -sub_agent" in lines
    assert "agents added: developer, qa, architect" in lines
    as_json = json.loads(cli(tmp_path, "profile", "diff", "default", "agentic", "--json").stdout)
    assert {change["vocabulary"] for change in as_json["terms"]} == {
        "agent_type",
        "agent_session_type",
        "decision_type",
        "knowledge_domain",
    }


def test_schema_prints_the_json_schema(tmp_path: Path) -> None:
    result = cli(tmp_path, "profile", "schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json_schema()


def test_a_malformed_file_is_one_line_and_exit_1_before_any_database(tmp_path: Path) -> None:
    bad = tmp_path / "acme.toml"
    bad.write_text('schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
                   '[vocabularies]\nagent_types = "developer"\n')  # fmt: skip
    # An unreachable database: the file is refused before a connection is tried.
    unreachable = "postgresql://nobody@127.0.0.1:1/none"
    for command in (
        ["profile", "apply", str(bad)],
        ["profile", "show", str(bad)],
        ["up", "--profile", str(bad)],
    ):
        result = cli(tmp_path, *command, AGENTKEEP_DATABASE_URL=unreachable)
        assert result.returncode == 1, (command, result.stdout)
        line = one_error_line(result)
        assert line.startswith(f"error: profile file {bad}: vocabularies.agent_types: ")
    unknown = cli(tmp_path, "profile", "diff", "default", "kia")
    assert unknown.returncode == 1
    assert "no shipped profile is named 'kia'" in one_error_line(unknown)
