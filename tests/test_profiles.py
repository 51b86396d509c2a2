"""Profile files: every shipped one validates, extends resolves, diffs are exact, bad files are one line.

No database here: reading and validating a profile happens before anything is applied.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from agentkeep.profiles.diff import diff_profiles
from agentkeep.profiles.loader import SHIPPED, ProfileError, load_profile, read_raw, unexplained_keys
from agentkeep.profiles.model import Vocabularies, json_schema, vocabulary_names, vocabulary_terms

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "src/agentkeep/profiles/profile.schema.json"


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_validates(name: str) -> None:
    loaded = load_profile(name)
    assert loaded.profile.name == name
    assert len(loaded.sha256) == 32
    # Shipped files are read as package data (they are in the wheel), and each is a partial file.
    text = resources.files("agentkeep.profiles.shipped").joinpath(f"{name}.toml").read_text()
    assert tomllib.loads(text)["name"] == name


@pytest.mark.parametrize("name", SHIPPED)
def test_every_key_a_shipped_file_sets_says_where_it_comes_from(name: str) -> None:
    assert unexplained_keys(read_raw(name)) == []
    for key, source in read_raw(name)["provenance"].items():
        assert source.startswith(("seed ", "inferred:", "silent:", "union:")), (key, source)


SEEDS = {
    "kai": "000_671c48fc3a80c465",
    "devassist": "001_e61640d1051300f0",
    "agentic": "002_a131dcaea21c7eff",
    "vromm": "003_9ef58a8d35691fa1",
    "othello": "004_ead8342890c90a95",
}


@pytest.mark.parametrize("name", SEEDS)
def test_seed_profiles_name_their_seed_and_compatibility_schema(name: str) -> None:
    profile = load_profile(name).profile
    assert (profile.seed, profile.compatibility_schema) == (SEEDS[name], name)
    assert load_profile("default").profile.seed is None


def test_a_seed_profile_inherits_what_its_seed_is_silent_on() -> None:
    default, kai = load_profile("default").profile, load_profile("kai").profile
    assert kai.vocabularies.agent_session_types == ("kai",)
    assert kai.vocabularies.agent_types == default.vocabularies.agent_types
    assert kai.quotas == default.quotas
    assert kai.defaults.agent_session_type == "kai"
    assert kai.defaults.user_session_type == default.defaults.user_session_type


def test_the_committed_json_schema_is_the_generated_one() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema()
    assert set(json_schema()["properties"]) >= {"vocabularies", "defaults", "agents", "quotas", "provenance"}


def test_every_vocabulary_has_a_stored_name() -> None:
    names = vocabulary_names()
    assert set(names) == set(Vocabularies.model_fields)
    assert len(set(names.values())) == len(names)
    assert set(vocabulary_terms(load_profile("vromm").profile)["usage_tier"]) == {"free", "byok", "premium"}


def test_diff_lists_exactly_the_differing_terms() -> None:
    changes = diff_profiles(load_profile("default").profile, load_profile("kai").profile)
    terms = {change.vocabulary: (set(change.added), set(change.removed)) for change in changes.terms}
    assert terms == {
        "agent_session_type": (set(), {"assistant", "developer", "qa", "architect"}),
        "decision_type": (set(), {"code_generation", "review", "test"}),
        "consent_scope": (
            set(),
            {"global", "scheduling", "communication", "health", "finance", "social", "goal_coaching"},
        ),
    }
    policies = {change.key: (change.old, change.new) for change in changes.policies}
    assert policies == {
        "compatibility_schema": (None, "kai"),
        "defaults.agent_session_type": ("assistant", "kai"),
        "consent.default_scopes": (["global"], ["legal"]),
        "decisions.subject_required": (False, True),
        "decisions.encrypted_fields": (["decision_rationale"], ["decision_card", "debate_transcript"]),
    }
    assert changes.agents.added == ("Kai",)
    assert "agent_session_type: -assistant -developer -qa -architect" in changes.lines()


def test_diff_of_a_profile_with_itself_is_empty() -> None:
    vromm = load_profile("vromm").profile
    assert diff_profiles(vromm, vromm).is_empty
    assert not diff_profiles(load_profile("agentic").profile, load_profile("othello").profile).is_empty


def test_a_file_may_extend_a_shipped_profile_and_another_file(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        'schema_version = 1\nname = "acme_base"\nversion = "1.0.0"\ntitle = "Acme"\ndescription = ""\n'
        'extends = "kai"\n[vocabularies]\nagent_session_types = ["kai", "acme"]\n'
    )
    (tmp_path / "acme.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "name": "acme",
                "version": "2.0.0",
                "title": "Acme",
                "description": "",
                "extends": "base.toml",
                "defaults": {"agent_session_type": "acme"},
            }
        )
    )
    profile = load_profile(str(tmp_path / "acme.json")).profile
    assert (profile.name, profile.version, profile.extends) == ("acme", "2.0.0", "base.toml")
    assert profile.vocabularies.agent_session_types == ("kai", "acme")
    assert profile.defaults.agent_session_type == "acme"
    assert profile.decisions.subject_required is True  # from kai, two levels up


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "bad"\nversion = "1.0.0"\n[vocabularies\n', "invalid TOML"),
        (
            'schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
            '[vocabularies]\nagent_types = ["dev", "Dev Ops "]\n',
            "vocabularies.agent_types[1]: 'Dev Ops ' must not start or end with a space",
        ),
        (
            'schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
            "[vocabularies]\nagent_typos = []\n",
            "vocabularies.agent_typos: Extra inputs are not permitted",
        ),
        (
            'schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
            '[defaults]\nagent_session_type = "nope"\n',
            "defaults.agent_session_type: 'nope' is not one of",
        ),
        (
            'schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
            '[quotas]\nreset_time_zone = "Mars/Olympus"\n',
            "quotas.reset_time_zone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            'schema_version = 1\nname = "acme"\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
            'extends = "nosuch"\n',
            "extends: no shipped profile is named 'nosuch'",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as refused:
        load_profile(str(path))
    detail = refused.value.detail
    assert "\n" not in detail
    assert detail.startswith(f"profile file {path}: ")
    assert message in detail


def test_a_cycle_of_extends_is_refused(tmp_path: Path) -> None:
    head = 'schema_version = 1\nversion = "1.0.0"\ntitle = "t"\ndescription = ""\n'
    (tmp_path / "a.toml").write_text(head + 'name = "a"\nextends = "b.toml"\n')
    (tmp_path / "b.toml").write_text(head + 'name = "b"\nextends = "a.toml"\n')
    with pytest.raises(ProfileError, match=r"extends: cycle .*a\.toml → .*b\.toml → .*a\.toml"):
        load_profile(str(tmp_path / "a.toml"))


def test_an_unknown_shipped_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="no shipped profile is named 'kia' \\(shipped: default, kai"):
        load_profile("kia")


def test_docs_name_every_profile_key() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "profiles.md").read_text()
    descriptive = {
        "schema_version",
        "name",
        "version",
        "title",
        "description",
        "seed",
        "extends",
        "provenance",
    }
    content = load_profile("default").content
    missing = [
        key
        for section, value in content.items()
        if section not in descriptive
        for key in ([section] if not isinstance(value, dict) else [f"{section}.{child}" for child in value])
        if f"`{key}" not in docs
    ]
    assert missing == []
