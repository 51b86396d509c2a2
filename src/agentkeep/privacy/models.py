"""What an erasure reports."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class ErasureReport(BaseModel):
    user_id: uuid.UUID
    data_keys_destroyed: int = Field(
        description="Versions of the user's data key destroyed (crypto-shredding)."
    )
    rows_deleted: dict[str, int] = Field(description="Rows removed, per table.")
    audit_entries_redacted: int = Field(description="The user's audit entries whose payload was removed.")

    @property
    def total_rows(self) -> int:
        return sum(self.rows_deleted.values())
