"""docs/seed-mapping.md stays true.

The mapping is parsed as GitHub-flavoured markdown tables (a pipe escaped as ``\\|`` is part of a
cell, not a border). Every row has five cells and a known status; a served row names only real
pytest node ids in its Test cell; a row of any other status says why (a planned row names the
later capability, a replaced row its replacement, a not-adopted row its reason); every node id
named anywhere is one pytest collects; the closing count of rows per status is the real count.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "docs" / "seed-mapping.md"

HEADER = ("Seed item", "Kind", "Home in agentkeep", "Test", "Status")
DELIMITER = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+$")
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
NODE_ID = re.compile(r"tests/(?:[a-z0-9_]+/)*[a-z0-9_]+\.py::[A-Za-z0-9_]+(?:\[[^\]`]+\])?")
NO_TEST = "—"
STATUSES = ("served", "planned", "replaced", "replaced, planned", "not adopted")
# The later capabilities a planned row may name (docs/seed-mapping.md, "How to read it").
CAPABILITIES = (
    "vault and decisions",
    "governance, trust and consent",
    "audit and retention",
    "usage and quotas",
    "memory",
    "partitions",
    "views",
    "health check",
)
SUMMARY = re.compile(r"^\*(\d+) rows: (.+)\.\*$")


@dataclass(frozen=True)
class Row:
    line: int
    item: str
    kind: str
    home: str
    test: str
    status: str


def cells(line: str) -> list[str]:
    """The cells of one table line; an escaped pipe stays inside its cell."""
    stripped = line.strip()
    if not (stripped.startswith("|") and stripped.endswith("|") and not stripped.endswith("\\|")):
        raise ValueError(f"a table line starts and ends with an unescaped '|': {line!r}")
    return [cell.strip().replace("\\|", "|") for cell in UNESCAPED_PIPE.split(stripped)[1:-1]]


def parse_rows(text: str) -> list[Row]:
    """Every body row of every table; a table must be exactly the mapping's five columns."""
    rows: list[Row] = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if not line.startswith("|"):
            continue
        if tuple(cells(line)) != HEADER:
            raise ValueError(f"line {number}: a table starts with the header {' | '.join(HEADER)}")
        if number >= len(lines) or not DELIMITER.match(lines[number].strip()):
            raise ValueError(f"line {number + 1}: the header is followed by a delimiter row")
        number += 1
        while number < len(lines) and lines[number].startswith("|"):
            row = cells(lines[number])
            number += 1
            if len(row) != len(HEADER):
                raise ValueError(f"line {number}: {len(row)} cells, not {len(HEADER)}: {row}")
            rows.append(Row(number, *row))
    return rows


def node_ids(test_cell: str) -> list[str]:
    """The node ids of a Test cell: ``—``, or backquoted node ids separated by ``<br>``."""
    if test_cell == NO_TEST:
        return []
    ids = []
    for part in test_cell.split("<br>"):
        match = re.fullmatch(rf"`({NODE_ID.pattern})`", part.strip())
        if match is None:
            raise ValueError(f"not a backquoted pytest node id: {part!r}")
        ids.append(match.group(1))
    return ids


def reason_missing(row: Row) -> str | None:
    """Why a row that is not served fails to say why it is not, or None."""
    home = row.home.strip()
    if home in ("", NO_TEST) or home.lower().rstrip(".") in STATUSES:
        return "Home gives no home or reason"
    if "planned" in row.status and not any(f"*{name}*" in home for name in CAPABILITIES):
        return f"a planned row names its capability in italics, one of {CAPABILITIES}"
    if row.status == "not adopted" and len(home.split()) < 3:
        return "a row not adopted says why in words"
    return None


@cache
def collected_node_ids() -> frozenset[str]:
    """Every node id pytest collects, with and without its parameters."""
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    full = {line.strip() for line in listing.splitlines() if "::" in line}
    return frozenset(full | {node.split("[", 1)[0] for node in full})


@cache
def mapping_rows() -> tuple[Row, ...]:
    return tuple(parse_rows(MAPPING.read_text()))


# --- the parser is strict ----------------------------------------------------------------------

TABLE = "| Seed item | Kind | Home in agentkeep | Test | Status |\n| --- | --- | --- | --- | --- |\n"


def test_an_escaped_pipe_stays_inside_its_cell() -> None:
    text = TABLE + "| `A \\|\\|--o{ B` | relationship | `fk_b_a` | `tests/test_x.py::test_y` | served |\n"
    [row] = parse_rows(text)
    assert (row.item, row.kind, row.status) == ("`A ||--o{ B`", "relationship", "served")
    assert row.line == 3


@pytest.mark.parametrize(
    "line",
    [
        "| `a | b` | column | home | — | planned |",  # an unescaped pipe makes six cells
        "| item | column | home | — |",
        "| item | column | home | — | planned \\|",
    ],
)
def test_a_row_that_is_not_five_cells_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match=r"cells|unescaped"):
        parse_rows(TABLE + line + "\n")


def test_a_table_with_other_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="header"):
        parse_rows("| Seed item | Test | Status |\n| --- | --- | --- |\n| a | — | planned |\n")


@pytest.mark.parametrize(
    "cell",
    ["tested by the suite", "`tests/test_x.py`", "see `tests/test_x.py::test_y`", "`tests/test_x.py::`"],
)
def test_a_test_cell_must_be_node_ids(cell: str) -> None:
    with pytest.raises(ValueError, match="node id"):
        node_ids(cell)


def test_node_ids_are_read_from_a_test_cell() -> None:
    cell = "`tests/test_a.py::test_b`<br>`tests/test_c.py::test_d[x-y]`"
    assert node_ids(cell) == ["tests/test_a.py::test_b", "tests/test_c.py::test_d[x-y]"]
    assert node_ids(NO_TEST) == []


@pytest.mark.parametrize(
    ("home", "status", "missing"),
    [
        ("planned", "planned", True),
        ("planned column of `x`", "planned", True),
        ("planned column of `x` — *memory*", "planned", False),
        ("—", "replaced", True),
        ("Alembic `alembic_version`", "replaced", False),
        ("operator practice", "not adopted", True),
        ("operator practice, outside the schema", "not adopted", False),
    ],
)
def test_a_row_not_served_must_say_why(home: str, status: str, missing: bool) -> None:
    row = Row(1, "item", "note", home, NO_TEST, status)
    assert (reason_missing(row) is not None) == missing


# --- the mapping itself ------------------------------------------------------------------------


def test_every_row_has_a_known_status_and_the_summary_counts_them() -> None:
    rows = mapping_rows()
    assert len(rows) > 600
    unknown = [f"line {row.line}: {row.status!r}" for row in rows if row.status not in STATUSES]
    assert unknown == []
    summaries = [SUMMARY.match(line) for line in MAPPING.read_text().splitlines()]
    [summary] = [match for match in summaries if match]
    counts = re.findall(r"(\d+) (.+?)(?=, \d|$)", summary.group(2))
    stated = {status: int(number) for number, status in counts}
    assert int(summary.group(1)) == len(rows)
    assert stated == dict(Counter(row.status for row in rows))


def test_every_served_row_names_tests_that_exist() -> None:
    collected = collected_node_ids()
    problems = []
    for row in mapping_rows():
        if row.status != "served":
            continue
        try:
            named = node_ids(row.test)
        except ValueError as error:
            problems.append(f"line {row.line} ({row.item}): {error}")
            continue
        if not named:
            problems.append(f"line {row.line} ({row.item}): served but names no test")
        problems += [f"line {row.line}: {node} does not exist" for node in named if node not in collected]
    assert problems == []


def test_every_row_not_served_says_why_and_names_only_real_tests() -> None:
    collected = collected_node_ids()
    problems = []
    for row in mapping_rows():
        if row.status == "served":
            continue
        if (reason := reason_missing(row)) is not None:
            problems.append(f"line {row.line} ({row.item}, {row.status}): {reason}")
        try:
            named = node_ids(row.test)
        except ValueError as error:
            problems.append(f"line {row.line} ({row.item}): {error}")
            continue
        problems += [f"line {row.line}: {node} does not exist" for node in named if node not in collected]
    assert problems == []
