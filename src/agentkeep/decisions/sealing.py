"""Which parts of a decision are sealed, and how a part becomes bytes and back.

The active profile's ``decisions.encrypted_fields`` names the parts (``decision_card``,
``debate_transcript``, ``decision_rationale``); each part has a plaintext column and an envelope
column ``<column>_sealed`` in ``decisions``. The envelope is bound (associated data) to the user,
the table, the envelope column and the decision's id, so it cannot be moved to another row,
column or user (agentkeep.vault).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from agentkeep.errors import InvalidInput
from agentkeep.profiles.loader import load_profile

TABLE = "decisions"
# profile field -> the plaintext column of decisions
PARTS = {
    "decision_card": "decision_card",
    "debate_transcript": "debate_transcript",
    "decision_rationale": "rationale",
}
JSON_PARTS = frozenset({"decision_card"})


def sealed_column(column: str) -> str:
    return f"{column}_sealed"


@dataclass(frozen=True)
class Policy:
    sealed: frozenset[str]
    """The plaintext column names whose values are written sealed."""
    subject_required: bool


@cache
def _default_section() -> dict[str, Any]:
    return load_profile("default").content["decisions"]  # type: ignore[no-any-return]


def policy(section: Mapping[str, Any] | None) -> Policy:
    """The policy of a stored profile's ``decisions`` section (the default profile's when None)."""
    section = section if section is not None else _default_section()
    fields = section.get("encrypted_fields", ())
    return Policy(
        sealed=frozenset(PARTS[name] for name in fields if name in PARTS),
        subject_required=bool(section.get("subject_required", False)),
    )


def to_bytes(column: str, value: Any) -> bytes:
    if column in JSON_PARTS:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return str(value).encode()


def from_bytes(column: str, data: bytes) -> Any:
    text = data.decode()
    return json.loads(text) if column in JSON_PARTS else text


def check_subject(chosen: Policy, subject: str | None) -> None:
    if chosen.subject_required and subject is None:
        raise InvalidInput(
            "subject is required by the active profile (decisions.subject_required)", field="subject"
        )
