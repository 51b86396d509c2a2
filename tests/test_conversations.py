"""Conversations through the SDK: create, rename, archive, soft delete, keyset listing."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agentkeep.conversations.models import ConversationUpdate, NewConversation
from agentkeep.errors import InvalidInput, NotFound, StaleVersion
from agentkeep.keep import Keep


async def test_rename_archive_and_delete(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.conversations.create(
        user.user_id, NewConversation(title="draft", metadata={"tag": "a"})
    )
    assert (created.version, created.is_archived, created.metadata) == (1, False, {"tag": "a"})
    renamed = await keep.conversations.rename(user.user_id, created.id, "final", version=1)
    assert (renamed.title, renamed.version) == ("final", 2)
    assert renamed.updated_at >= created.updated_at
    archived = await keep.conversations.archive(user.user_id, created.id)
    assert archived.is_archived and archived.version == 3
    assert created.id not in [c.id for c in (await keep.conversations.list(user.user_id)).items]
    assert created.id in [c.id for c in (await keep.conversations.list(user.user_id, archived=True)).items]
    await keep.conversations.delete(user.user_id, created.id)
    with pytest.raises(NotFound):
        await keep.conversations.get(user.user_id, created.id)
    assert (await keep.conversations.list(user.user_id, archived=None)).items == []


async def test_a_stale_version_is_refused_and_changes_nothing(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.conversations.create(user.user_id, NewConversation(title="one"))
    await keep.conversations.rename(user.user_id, created.id, "two", version=1)
    with pytest.raises(StaleVersion) as refused:
        await keep.conversations.update(
            user.user_id, created.id, ConversationUpdate(title="three", version=1)
        )
    assert refused.value.field == "version"
    current = await keep.conversations.get(user.user_id, created.id)
    assert (current.title, current.version) == ("two", 2)


async def test_listing_pages_newest_first_without_gaps_or_repeats(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    made = [await keep.conversations.create(user.user_id, NewConversation(title=str(i))) for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await keep.conversations.list(user.user_id, before=cursor, limit=3)
        pages += 1
        seen += [c.title or "" for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [c.title for c in reversed(made)]
    assert pages == 3
    with pytest.raises(InvalidInput):
        await keep.conversations.list(user.user_id, limit=0)


def test_bad_conversation_input_is_refused() -> None:
    with pytest.raises(ValidationError):
        NewConversation(title="x" * 501)
    with pytest.raises(ValidationError):
        NewConversation(metadata={"big": "x" * 300_000})
