"""What operator reports return."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from agentkeep.models import Output


class UserActivity(Output):
    """One row of seed 001's ``user_activity_summary``: a live, active user and their sessions."""

    user_id: uuid.UUID
    username: str | None
    last_active_at: datetime
    total_sessions: int
    total_cost: Decimal | None
    """None for a user with no agent session (the seed's SUM over no rows)."""
    avg_cost_per_session: Decimal | None
    last_session_at: datetime | None
