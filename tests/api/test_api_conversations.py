"""The REST API's conversations and messages: CRUD, pages, threads."""

from __future__ import annotations

from typing import Any

import httpx
from support import (
    Account,
    append,
    assert_problem,
    message_ids,
    new_conversation,
)

# --- conversations --------------------------------------------------------------------------------


async def test_conversation_crud(client: httpx.AsyncClient, alice: Account) -> None:
    created = await client.post(
        "/api/conversations", json={"title": "first", "metadata": {"topic": "tests"}}, headers=alice.headers
    )
    assert created.status_code == 201
    conversation = created.json()
    assert conversation["title"] == "first"
    assert conversation["version"] == 1
    assert conversation["is_archived"] is False
    assert conversation["user_id"] == alice.user_id
    url = f"/api/conversations/{conversation['id']}"

    got = await client.get(url, headers=alice.headers)
    assert got.status_code == 200
    assert got.json() == conversation

    renamed = await client.patch(url, json={"title": "renamed", "version": 1}, headers=alice.headers)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "renamed"
    assert renamed.json()["version"] == 2
    assert renamed.json()["metadata"] == {"topic": "tests"}

    archived = await client.patch(url, json={"is_archived": True, "version": 2}, headers=alice.headers)
    assert archived.status_code == 200
    assert archived.json()["is_archived"] is True
    assert archived.json()["version"] == 3

    live = await client.get("/api/conversations", params={"archived": "false"}, headers=alice.headers)
    only_archived = await client.get("/api/conversations", params={"archived": "true"}, headers=alice.headers)
    assert conversation["id"] not in [c["id"] for c in live.json()["items"]]
    assert [c["id"] for c in only_archived.json()["items"]] == [conversation["id"]]

    unarchived = await client.patch(url, json={"is_archived": False, "version": 3}, headers=alice.headers)
    assert unarchived.json()["is_archived"] is False
    live = await client.get("/api/conversations", headers=alice.headers)
    assert [c["id"] for c in live.json()["items"]] == [conversation["id"]]

    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await client.get(url, headers=alice.headers), 404)
    assert_problem(await client.delete(url, headers=alice.headers), 404)
    assert_problem(await client.patch(url, json={"title": "ghost", "version": 4}, headers=alice.headers), 404)
    assert (await client.get("/api/conversations", headers=alice.headers)).json()["items"] == []


async def test_conversation_without_body(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/api/conversations", headers=alice.headers)
    assert response.status_code == 201, response.text
    assert response.json()["title"] is None


async def test_conversations_keyset_pagination(client: httpx.AsyncClient, alice: Account) -> None:
    made = [(await new_conversation(client, alice, f"c{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"before": cursor} if cursor else {})
        response = await client.get("/api/conversations", params=params, headers=alice.headers)
        assert response.status_code == 200
        page = response.json()
        pages.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [2, 2, 1]
    assert len(seen) == len(set(seen))
    assert seen == list(reversed(made))  # newest first


async def test_conversations_archived_filter(client: httpx.AsyncClient, alice: Account) -> None:
    live = await new_conversation(client, alice, "live")
    old = await new_conversation(client, alice, "old")
    archived = await client.patch(
        f"/api/conversations/{old['id']}", json={"is_archived": True, "version": 1}, headers=alice.headers
    )
    assert archived.status_code == 200

    async def listed(**params: str) -> list[str]:
        response = await client.get("/api/conversations", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await listed() == [live["id"]]  # live ones by default
    assert await listed(archived="false") == [live["id"]]
    assert await listed(archived="true") == [old["id"]]
    assert await listed(archived="any") == [old["id"], live["id"]]  # newest first
    assert_problem(
        await client.get("/api/conversations", params={"archived": "maybe"}, headers=alice.headers),
        422,
        field="archived",
    )


# --- messages -------------------------------------------------------------------------------------


async def test_append_single_and_agent_role(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    first = await append(client, alice, conversation["id"], "hello", metadata={"n": 1}, token_count=3)
    assert first["role"] == "user"
    assert first["content"] == "hello"
    assert first["conversation_id"] == conversation["id"]
    assert first["user_id"] == alice.user_id
    assert first["metadata"] == {"n": 1}
    reply = await append(
        client, alice, conversation["id"], "hi!", role="agent", parent_message_id=first["id"]
    )
    assert reply["role"] == "assistant"

    stored = await client.get(f"/api/messages/{reply['id']}", headers=alice.headers)
    assert stored.status_code == 200
    assert stored.json()["role"] == "assistant"
    assert stored.json()["parent_message_id"] == first["id"]
    assert stored.json()["content"] == "hi!"


async def test_batch_latest_and_pages(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    base = f"/api/conversations/{conversation['id']}/messages"
    batch = [{"role": "user" if i % 2 == 0 else "agent", "content": f"m{i}"} for i in range(7)]
    created = await client.post(f"{base}/batch", json={"messages": batch}, headers=alice.headers)
    assert created.status_code == 201, created.text
    rows = created.json()
    assert [m["content"] for m in rows] == [f"m{i}" for i in range(7)]
    assert {m["role"] for m in rows} == {"user", "assistant"}
    ids = [m["id"] for m in rows]
    assert ids == sorted(ids)

    latest = await client.get(f"{base}/latest", params={"limit": 3}, headers=alice.headers)
    assert latest.status_code == 200
    assert [m["content"] for m in latest.json()["items"]] == ["m4", "m5", "m6"]  # last 3, oldest first
    # Full, so the cursor leads on to the older ones: the page before the oldest shown.
    assert latest.json()["next_cursor"] == latest.json()["items"][0]["id"]
    older = await client.get(base, params={"before": latest.json()["next_cursor"]}, headers=alice.headers)
    assert [m["content"] for m in older.json()["items"]] == ["m3", "m2", "m1", "m0"]
    everything = await client.get(f"{base}/latest", params={"limit": 50}, headers=alice.headers)
    assert everything.json()["next_cursor"] is None

    async def walk(order: str) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        cursor_name = "before" if order == "desc" else "after"
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3, "order": order} | ({cursor_name: cursor} if cursor else {})
            response = await client.get(base, params=params, headers=alice.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            assert len(page["items"]) <= 3
            seen += [m["content"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen
        raise AssertionError("pagination did not end")

    assert await walk("desc") == [f"m{i}" for i in reversed(range(7))]
    assert await walk("asc") == [f"m{i}" for i in range(7)]

    # A cursor in the wrong direction is a clear 422.
    wrong = await client.get(base, params={"order": "desc", "after": ids[0]}, headers=alice.headers)
    assert_problem(wrong, 422, field="after")


async def test_thread_of_a_reply_chain(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    cid = conversation["id"]
    root = await append(client, alice, cid, "root")
    middle = await append(client, alice, cid, "middle", role="assistant", parent_message_id=root["id"])
    leaf = await append(client, alice, cid, "leaf", parent_message_id=middle["id"])
    sibling = await append(client, alice, cid, "sibling", role="assistant", parent_message_id=root["id"])
    unrelated = await append(client, alice, cid, "unrelated")

    thread = await client.get(f"/api/messages/{middle['id']}/thread", headers=alice.headers)
    assert thread.status_code == 200
    assert [m["id"] for m in thread.json()["items"]] == [root["id"], middle["id"], leaf["id"]]

    from_root = await client.get(f"/api/messages/{root['id']}/thread", headers=alice.headers)
    assert [m["id"] for m in from_root.json()["items"]] == [
        root["id"],
        middle["id"],
        leaf["id"],
        sibling["id"],
    ]
    assert unrelated["id"] not in [m["id"] for m in from_root.json()["items"]]


async def test_delete_message(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    keep_it = await append(client, alice, conversation["id"], "keep")
    drop_it = await append(client, alice, conversation["id"], "drop")
    deleted = await client.delete(f"/api/messages/{drop_it['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/messages/{drop_it['id']}", headers=alice.headers), 404)
    assert_problem(await client.delete(f"/api/messages/{drop_it['id']}", headers=alice.headers), 404)
    assert await message_ids(client, alice, conversation["id"]) == [keep_it["id"]]


async def test_append_to_deleted_conversation_is_404(client: httpx.AsyncClient, alice: Account) -> None:
    conversation = await new_conversation(client, alice)
    assert (
        await client.delete(f"/api/conversations/{conversation['id']}", headers=alice.headers)
    ).status_code == 204
    response = await client.post(
        f"/api/conversations/{conversation['id']}/messages",
        json={"role": "user", "content": "late"},
        headers=alice.headers,
    )
    assert_problem(response, 404)
