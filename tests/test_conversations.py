"""Conversations through the SDK: create, rename, archive, soft delete, keyset listing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from agentkeep.conversations.models import ConversationUpdate, NewConversation
from agentkeep.errors import InvalidInput, NotFound, StaleVersion
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage


async def test_rename_archive_and_delete(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.conversations.create(
        user.user_id, NewConversation(title="draft", metadata={"tag": "a"})
    )
    assert (created.version, created.is_archived, created.metadata) == (1, False, {"tag": "a"})
    renamed = await keep.conversations.rename(user.user_id, created.id, "final", version=1)
    assert (renamed.title, renamed.version) == ("final", 2)
    assert renamed.updated_at >= created.updated_at
    archived = await keep.conversations.archive(user.user_id, created.id, version=2)
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
    with pytest.raises(ValidationError) as unversioned:
        ConversationUpdate(title="no version")  # type: ignore[call-arg]
    assert [error["loc"] for error in unversioned.value.errors()] == [("version",)]


async def test_an_empty_update_changes_nothing_not_even_the_version(keep: Keep, make_user: Any) -> None:
    user = await make_user()
    created = await keep.conversations.create(user.user_id, NewConversation(title="same"))
    unchanged = await keep.conversations.update(user.user_id, created.id, ConversationUpdate(version=1))
    assert unchanged == created
    assert await keep.conversations.get(user.user_id, created.id) == created
    with pytest.raises(StaleVersion) as stale:
        await keep.conversations.update(user.user_id, created.id, ConversationUpdate(version=2))
    assert stale.value.field == "version"
    await keep.conversations.delete(user.user_id, created.id)
    with pytest.raises(NotFound):
        await keep.conversations.update(user.user_id, created.id, ConversationUpdate(version=2))


async def test_token_counts_of_appended_messages_add_up_on_the_conversation(
    keep: Keep, make_user: Any
) -> None:
    user = await make_user()
    chat = await keep.conversations.create(user.user_id)
    await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="hi", token_count=12))
    await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="no count"))
    await keep.messages.append_many(
        user.user_id,
        chat.id,
        [
            NewMessage(role="assistant", content="a", token_count=30),
            NewMessage(role="assistant", content="b"),
            NewMessage(role="assistant", content="c", token_count=0),
            NewMessage(role="assistant", content="d", token_count=100),
        ],
    )
    await keep.messages.append_many(user.user_id, chat.id, [NewMessage(role="user", content="none")])
    counted = await keep.conversations.get(user.user_id, chat.id)
    assert counted.tokens_used == 142
    # A counter moving is not an edit: the version a caller read stays good for its next edit.
    assert counted.version == chat.version
    # Messages carry no cost, so the conversation's cost cannot follow them (see the report).
    assert counted.cost_usd == 0
    # A batch that fails stores nothing and counts nothing.
    with pytest.raises(NotFound):
        await keep.messages.append_many(
            user.user_id,
            chat.id,
            [
                NewMessage(role="user", content="x", token_count=5),
                NewMessage(role="user", content="y", token_count=5, parent_message_id=new_id()),
            ],
        )
    assert (await keep.conversations.get(user.user_id, chat.id)).tokens_used == 142
    # Nor does appending to a deleted conversation, or to another user's.
    other = await make_user()
    with pytest.raises(NotFound):
        await keep.messages.append(
            other.user_id, chat.id, NewMessage(role="user", content="x", token_count=9)
        )
    await keep.conversations.delete(user.user_id, chat.id)
    with pytest.raises(NotFound):
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="x", token_count=9))


async def test_rest_patch_needs_the_version_and_an_empty_one_changes_nothing(
    keep: Keep, make_user: Any, client: httpx.AsyncClient
) -> None:
    user = await make_user()
    headers = {"Authorization": f"Bearer {(await keep.access_keys.create(user.user_id)).secret}"}
    created = await keep.conversations.create(user.user_id, NewConversation(title="t"))
    url = f"/api/conversations/{created.id}"
    unversioned = await client.patch(url, json={"title": "u"}, headers=headers)
    assert unversioned.status_code == 422
    assert [error["field"] for error in unversioned.json()["errors"]] == ["version"]
    assert (await client.patch(url, json={}, headers=headers)).status_code == 422
    same = await client.patch(url, json={"version": 1}, headers=headers)
    assert same.status_code == 200, same.text
    assert same.json() == (await client.get(url, headers=headers)).json()
    assert (same.json()["version"], same.json()["title"]) == (1, "t")
    stale = await client.patch(url, json={"version": 2}, headers=headers)
    assert stale.status_code == 409
    assert (await keep.conversations.get(user.user_id, created.id)).version == 1
