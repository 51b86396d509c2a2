"""A page of results and the cursor to the next one (keyset pagination on UUIDv7 ids)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from agentkeep.errors import InvalidInput

Item = TypeVar("Item")

MAX_PAGE_SIZE = 200


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: uuid.UUID | None = None
    """Pass as ``before`` to get the next (older) page; None when this was the last."""


def page_of(rows: Sequence[Any], limit: int, build: Callable[[Sequence[Any]], list[Item]]) -> Page[Item]:
    """A page from up to ``limit + 1`` rows: the extra row only says that another page follows."""
    items = build(rows[:limit])
    cursor = getattr(items[-1], "id", None) if items and len(rows) > limit else None
    return Page(items=items, next_cursor=cursor)


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    return limit
