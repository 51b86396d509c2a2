"""What the audit trail hands out: entries of a user's own trail, and verification reports."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, computed_field

from agentkeep.audit.chain import Break


class AuditEntry(BaseModel):
    user_id: uuid.UUID
    seq: int
    id: uuid.UUID
    occurred_at: dt.datetime
    table_name: str | None
    record_id: dict[str, Any] | None
    operation: str
    actor: str
    acting_user_id: uuid.UUID | None
    correlation_id: str | None
    old_values: dict[str, Any] | None
    new_values: dict[str, Any] | None
    action_type: str | None
    risk_level: str | None
    agent_id: uuid.UUID | None
    session_id: uuid.UUID | None
    ip_address: str | None
    user_agent: str | None
    redacted_at: dt.datetime | None
    entry_hash: str


class AuditTrailPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: int | None = None
    """Pass as ``before`` (a seq) to get the next (older) page; None when this was the last."""


class LiveRowProblem(BaseModel):
    table_name: str
    user_id: str
    seq: int | None
    """The last entry written for the row (None: no entry knows it)."""
    record_id: str | None
    problem: str

    def __str__(self) -> str:
        at = f" (last entry seq {self.seq})" if self.seq is not None else ""
        return f"{self.table_name} {self.record_id or '?'} of {self.user_id}{at}: {self.problem}"


class VerifyReport(BaseModel):
    entries: int
    chains: int
    breaks: list[Break]
    live_rows: list[LiveRowProblem]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """No broken link and no live row that differs from its last entry."""
        return not self.breaks and not self.live_rows


class RedactResult(BaseModel):
    user_id: uuid.UUID
    redacted: int
    """How many of the user's entries lost their personal payload."""
