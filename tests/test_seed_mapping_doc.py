"""docs/seed-mapping.md stays true: every test it names exists, every served row names one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "docs" / "seed-mapping.md"
NODE_ID = re.compile(r"tests/[a-z_]+\.py::[A-Za-z0-9_]+")


def _collected() -> set[str]:
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("[", 1)[0] for line in listing.splitlines() if "::" in line}


def test_every_test_the_mapping_names_exists() -> None:
    named = set(NODE_ID.findall(MAPPING.read_text()))
    assert len(named) > 20
    missing = sorted(named - _collected())
    assert missing == [], f"docs/seed-mapping.md names tests that do not exist: {missing}"


def test_every_served_row_names_a_test_and_every_row_has_a_status() -> None:
    statuses = {"served", "planned", "replaced", "replaced, planned", "not adopted"}
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in MAPPING.read_text().splitlines()
        if line.startswith("|") and not line.startswith("|--") and not line.startswith("| Seed item")
    ]
    rows = [row for row in rows if len(row) == 5 and not set(row[0]) <= {"-", " "}]
    assert len(rows) > 500
    for item, _kind, home, test, status in rows:
        assert status.strip("`* ") in statuses, f"{item}: unknown status {status!r}"
        assert home, f"{item}: no home"
        if status.strip("`* ") == "served":
            assert NODE_ID.search(test) or "test" in test, f"{item}: served but no test named"
