"""The agent session status machine, as the database enforces it (trigger of revision 0001, widened in 0012).

Kept here to explain a refusal before the database has to; a test checks both agree.
"""

from __future__ import annotations

from agentkeep.errors import InvalidTransition

TERMINAL = frozenset({"completed", "failed", "cancelled", "blocked"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "initializing": frozenset({"pending_approval", "approved", "cancelled", "failed", "blocked"}),
    "pending_approval": frozenset({"approved", "blocked", "cancelled", "failed"}),
    # blocked: by the cost gate or an emergency stop (revision 0012, docs/governance.md).
    "approved": frozenset({"running", "cancelled", "failed", "blocked"}),
    "running": frozenset({"paused", "completed", "failed", "cancelled", "blocked"}),
    "paused": frozenset({"running", "completed", "failed", "cancelled", "blocked"}),
    **{status: frozenset[str]() for status in TERMINAL},
}


def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS:
        raise InvalidTransition(f"{target!r} is not an agent session status", field="status")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it has ended)"
        raise InvalidTransition(
            f"agent session cannot go from {current} to {target}; from {current} it may go to {options}",
            field="status",
        )
