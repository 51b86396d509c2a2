"""Messages through the SDK: append, batches, latest N, paging both ways, threads."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from agentkeep.errors import InvalidInput, NotFound
from agentkeep.ids import new_id
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.principal import Principal
from partition_helpers import analyze_like_autovacuum


@pytest.fixture
async def chat(keep: Keep, make_user: Any) -> tuple[Any, Any]:
    user = await make_user()
    return user, await keep.conversations.create(user.user_id)


async def test_append_returns_the_stored_message(keep: Keep, chat: tuple[Any, Any]) -> None:
    user, conversation = chat
    appended = await keep.messages.append(
        user.user_id,
        conversation.id,
        NewMessage(
            role="agent",
            content="def f(): pass",
            message_type="code",
            agent_name="FELLO",
            reasoning_trace={"sub_agents": [{"name": "TraitAnalyzer", "confidence": 0.82}]},
            ethical_validation={"overall": "cleared"},
            token_count=7,
            model_used="gpt-x",
            metadata={"k": "v"},
        ),
    )
    stored = await keep.messages.get(user.user_id, appended.id)
    assert stored == appended
    assert stored.role == "assistant", "seed 002's role 'agent' is stored as 'assistant'"
    assert stored.reasoning_trace["sub_agents"][0]["name"] == "TraitAnalyzer"


async def test_latest_returns_the_last_n_oldest_first(keep: Keep, chat: tuple[Any, Any]) -> None:
    user, conversation = chat
    await keep.messages.append_many(
        user.user_id, conversation.id, [NewMessage(role="user", content=str(i)) for i in range(30)]
    )
    latest = await keep.messages.latest(user.user_id, conversation.id, limit=5)
    assert [m.content for m in latest] == ["25", "26", "27", "28", "29"]


async def test_paging_backwards_and_forwards_visits_every_message_once(
    keep: Keep, chat: tuple[Any, Any]
) -> None:
    user, conversation = chat
    appended = await keep.messages.append_many(
        user.user_id, conversation.id, [NewMessage(role="user", content=f"m{i}") for i in range(23)]
    )
    backwards: list[str] = []
    cursor = None
    while True:
        page = await keep.messages.page(user.user_id, conversation.id, before=cursor, limit=5)
        backwards += [m.content for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert backwards == [m.content for m in reversed(appended)]
    forwards: list[str] = []
    cursor = None
    while True:
        page = await keep.messages.page(user.user_id, conversation.id, after=cursor, limit=7, order="asc")
        forwards += [m.content for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert forwards == [m.content for m in appended]
    with pytest.raises(InvalidInput):
        await keep.messages.page(user.user_id, conversation.id, after=appended[0].id, order="desc")


async def test_a_thread_is_the_path_to_the_root_and_every_reply_below(
    keep: Keep, chat: tuple[Any, Any]
) -> None:
    user, conversation = chat
    root = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="root"))
    a = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="assistant", content="a", parent_message_id=root.id)
    )
    b = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="user", content="b", parent_message_id=a.id)
    )
    sibling = await keep.messages.append(
        user.user_id,
        conversation.id,
        NewMessage(role="assistant", content="sibling", parent_message_id=root.id),
    )
    await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="unrelated"))
    assert [m.content for m in await keep.messages.thread(user.user_id, a.id)] == ["root", "a", "b"]
    assert [m.content for m in await keep.messages.thread(user.user_id, root.id)] == [
        "root",
        "a",
        "b",
        "sibling",
    ]
    assert [m.id for m in await keep.messages.thread(user.user_id, sibling.id)] == [root.id, sibling.id]
    assert b.parent_message_id == a.id


async def test_a_reply_must_be_in_the_same_conversation(keep: Keep, chat: tuple[Any, Any]) -> None:
    user, conversation = chat
    other = await keep.conversations.create(user.user_id)
    parent = await keep.messages.append(user.user_id, other.id, NewMessage(role="user", content="elsewhere"))
    with pytest.raises(NotFound):
        await keep.messages.append(
            user.user_id, conversation.id, NewMessage(role="user", content="x", parent_message_id=parent.id)
        )
    assert await keep.messages.latest(user.user_id, conversation.id) == []


async def test_a_batch_is_stored_whole_or_not_at_all(keep: Keep, chat: tuple[Any, Any]) -> None:
    user, conversation = chat
    other = await keep.conversations.create(user.user_id)
    foreign = await keep.messages.append(user.user_id, other.id, NewMessage(role="user", content="foreign"))
    await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="before"))
    batch = [NewMessage(role="user", content=f"b{i}") for i in range(10)]
    batch[7] = NewMessage(role="user", content="bad parent", parent_message_id=foreign.id)
    with pytest.raises(NotFound):
        await keep.messages.append_many(user.user_id, conversation.id, batch)
    assert [m.content for m in await keep.messages.latest(user.user_id, conversation.id)] == ["before"]
    with pytest.raises(InvalidInput):
        await keep.messages.append_many(user.user_id, conversation.id, [])


async def test_deleted_messages_and_conversations_are_hidden(
    keep: Keep, chat: tuple[Any, Any], client: httpx.AsyncClient
) -> None:
    user, conversation = chat
    headers = {"Authorization": f"Bearer {(await keep.access_keys.create(user.user_id)).secret}"}
    kept = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="keep"))
    gone = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="gone"))
    await keep.messages.delete(user.user_id, gone.id)
    assert [m.id for m in await keep.messages.latest(user.user_id, conversation.id)] == [kept.id]
    with pytest.raises(NotFound):
        await keep.messages.get(user.user_id, gone.id)
    with pytest.raises(NotFound):
        await keep.messages.delete(user.user_id, gone.id)

    reply = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="assistant", content="re", parent_message_id=kept.id)
    )
    elsewhere = await keep.conversations.create(user.user_id)
    survivor = await keep.messages.append(user.user_id, elsewhere.id, NewMessage(role="user", content="s"))
    base = f"/api/conversations/{conversation.id}/messages"
    reads = [
        base,
        f"{base}?order=asc",
        f"{base}?before={reply.id}",
        f"{base}?order=asc&after={kept.id}",
        f"{base}/latest",
        f"/api/messages/{kept.id}",
        f"/api/messages/{reply.id}",
        f"/api/messages/{kept.id}/thread",
        f"/api/messages/{reply.id}/thread",
    ]
    for url in reads:  # every read works while the conversation is there
        assert (await client.get(url, headers=headers)).status_code == 200, url

    await keep.conversations.delete(user.user_id, conversation.id)
    sdk_reads = [
        keep.messages.latest(user.user_id, conversation.id),
        keep.messages.page(user.user_id, conversation.id),
        keep.messages.page(user.user_id, conversation.id, before=reply.id),
        keep.messages.page(user.user_id, conversation.id, order="asc"),
        keep.messages.page(user.user_id, conversation.id, after=kept.id, order="asc"),
        keep.messages.get(user.user_id, kept.id),
        keep.messages.get(user.user_id, reply.id),
        keep.messages.thread(user.user_id, kept.id),
        keep.messages.thread(user.user_id, reply.id),
        keep.messages.delete(user.user_id, reply.id),
        keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="late")),
    ]
    for attempt in sdk_reads:
        with pytest.raises(NotFound):
            await attempt
    for url in reads:
        response = await client.get(url, headers=headers)
        assert response.status_code == 404, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(f"/api/messages/{reply.id}", headers=headers)).status_code == 404
    # The user's other conversation is untouched.
    assert [m.id for m in await keep.messages.latest(user.user_id, elsewhere.id)] == [survivor.id]
    assert (await client.get(f"/api/messages/{survivor.id}/thread", headers=headers)).status_code == 200


async def test_a_thread_leaves_deleted_messages_out_and_keeps_their_live_replies(
    keep: Keep, chat: tuple[Any, Any]
) -> None:
    user, conversation = chat
    root = await keep.messages.append(user.user_id, conversation.id, NewMessage(role="user", content="root"))
    middle = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="assistant", content="mid", parent_message_id=root.id)
    )
    leaf = await keep.messages.append(
        user.user_id, conversation.id, NewMessage(role="user", content="leaf", parent_message_id=middle.id)
    )
    await keep.messages.delete(user.user_id, middle.id)
    assert [m.id for m in await keep.messages.thread(user.user_id, leaf.id)] == [root.id, leaf.id]
    assert [m.id for m in await keep.messages.thread(user.user_id, root.id)] == [root.id, leaf.id]
    with pytest.raises(NotFound):
        await keep.messages.thread(user.user_id, middle.id)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role": "wizard", "content": "x"}, "role"),
        ({"role": "user", "content": "x", "message_type": "video"}, "message_type"),
        ({"role": "user", "content": "x", "token_count": -1}, "token_count"),
        ({"role": "user", "content": "x" * 1_000_001}, "content"),
        ({"role": "user", "content": "x", "surprise": 1}, "surprise"),
        ({"role": "user"}, "content"),
    ],
)
def test_bad_messages_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        NewMessage(**fields)
    assert refused.value.errors()[0]["loc"][0] == field


async def test_the_database_refuses_an_unknown_role_too(chat: tuple[Any, Any], as_app: Any) -> None:
    user, conversation = chat
    async with as_app(Principal.user(user.user_id)) as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="role_valid"):
            await conn.execute(
                "INSERT INTO messages (user_id, id, conversation_id, role, content)"
                " VALUES ($1, $2, $3, 'wizard', 'x')",
                user.user_id,
                new_id(),
                conversation.id,
            )


async def test_latest_of_a_large_conversation_is_an_index_scan(
    keep: Keep, chat: tuple[Any, Any], as_app: Any, owner: Any
) -> None:
    user, conversation = chat
    for _ in range(4):
        await keep.messages.append_many(
            user.user_id, conversation.id, [NewMessage(role="user", content="x") for _ in range(500)]
        )
    # As the owner: the application role may not analyze (it would be skipped with a warning).
    await analyze_like_autovacuum(owner, "messages")
    async with as_app(Principal.user(user.user_id)) as conn:
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                "EXPLAIN SELECT * FROM messages WHERE user_id = $1 AND conversation_id = $2 "
                "AND deleted_at IS NULL ORDER BY id DESC LIMIT 50",
                user.user_id,
                conversation.id,
            )
        )
    # Monthly partitions (revision 0006): an ordered Append of backward scans of each month's copy
    # of a key ordered by id within the user (uq_messages_conversation_order_YYYY_MM; on a Citus
    # shard holding only this user's rows, pk_messages_YYYY_MM serves as well), no sort.
    scans = re.findall(
        r"(Index Scan(?: Backward)?|Index Only Scan(?: Backward)?|Seq Scan|Bitmap Heap Scan)"
        r"(?: using (\S+))?",
        plan,
    )
    assert scans, plan
    for kind, index in scans:
        assert kind.endswith("Backward"), plan
        assert re.match(r"(uq_messages_conversation_order|pk_messages)_\d{4}_\d{2}", index), plan
    assert "Sort" not in plan, plan


async def test_json_fields_round_trip_exactly(keep: Keep, chat: tuple[Any, Any]) -> None:
    """Big integers, unicode, nesting and JSON null survive the hot path's JSON handling."""
    user, conversation = chat
    metadata = {"big": 2**80, "ratio": 1.5, "name": "Åsa 🤖", "none": None, "nested": [1, {"a": []}]}
    trace = [{"step": 1, "thought": "ü"}, {"step": 2}]
    appended = await keep.messages.append(
        user.user_id,
        conversation.id,
        NewMessage(role="assistant", content="x", metadata=metadata, reasoning_trace=trace),
    )
    (stored,) = await keep.messages.latest(user.user_id, conversation.id, limit=1)
    assert stored.metadata == metadata
    assert stored.reasoning_trace == trace
    assert stored == appended
    batch = await keep.messages.append_many(
        user.user_id, conversation.id, [NewMessage(role="user", content="y", metadata=metadata)]
    )
    assert (await keep.messages.get(user.user_id, batch[0].id)).metadata == metadata
