"""README.md stays true: every setting is documented, its Python example is the runnable file."""

from __future__ import annotations

import re
from pathlib import Path

from agentkeep.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| (`AGENTKEEP_[A-Z_]+`.*?) \|", README, flags=re.MULTILINE))
    names = {name for row in documented for name in re.findall(r"`(AGENTKEEP_[A-Z_]+)`", row)}
    expected = {f"AGENTKEEP_{field.upper()}" for field in Settings.model_fields}
    assert sorted(expected - names) == [], "settings missing from README.md's configuration table"
    assert sorted(names - expected) == [], "README.md documents settings that do not exist"


def test_the_python_example_is_examples_quickstart_and_runs_as_a_file() -> None:
    code = (ROOT / "examples" / "quickstart.py").read_text()
    example = code[code.index("from agentkeep import Keep") :].rstrip("\n")
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    assert [block for block in blocks if example in block], "README's example differs from the file"
    assert 'if __name__ == "__main__":\n    asyncio.run(main())' in example
    assert not re.search(r"^await ", "\n".join(blocks), flags=re.MULTILINE), "top-level await"


def test_the_python_and_curl_examples_register_different_users() -> None:
    python_emails = set(re.findall(r'email = f"([^"{]+)', README))
    curl_emails = set(re.findall(r'"email": "([^"]+)"', README))
    assert python_emails and curl_emails
    assert not any(curl.startswith(prefix) for curl in curl_emails for prefix in python_emails)


def test_the_readme_points_nowhere_outside_the_repository() -> None:
    assert "../" not in README
    assert "DESIGN.md" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README.md links to a missing {target}"
