"""Primary keys are UUIDv7: time-ordered, so the newest rows sit together at the end of an index."""

from __future__ import annotations

import uuid

import uuid_utils.compat


def new_id() -> uuid.UUID:
    return uuid_utils.compat.uuid7()


def new_ids(count: int) -> list[uuid.UUID]:
    return [uuid_utils.compat.uuid7() for _ in range(count)]
