"""The agent activity status machine, as the database enforces it (trigger of revision 0013).

Kept here to explain a refusal before the database has to; a test checks both agree.
"""

from __future__ import annotations

from agentkeep.consent.tables import TIERS
from agentkeep.errors import InvalidTransition

TERMINAL = frozenset({"rejected", "executed", "failed"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "proposed": frozenset({"pending_consent", "approved", "rejected"}),
    "pending_consent": frozenset({"approved", "rejected"}),
    "approved": frozenset({"executed", "failed"}),
    **{status: frozenset[str]() for status in TERMINAL},
}


def check_transition(current: str, target: str) -> None:
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it has ended)"
        raise InvalidTransition(
            f"agent activity cannot go from {current} to {target}; from {current} it may go to {options}",
            field="status",
        )


def reaches(tier: str | None, required: str) -> bool:
    """Whether consent tier ``tier`` (None: the scope has none) reaches ``required``."""
    return tier is not None and TIERS.index(tier) >= TIERS.index(required)
