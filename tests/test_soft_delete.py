"""Soft-deleted parents hide what belongs to them: a deleted user's rows, and the messages of a
conversation that is not there (unknown, deleted or another user's), through SDK and REST."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from agentkeep.agent_sessions.models import NewAgentSession, StatusChange
from agentkeep.errors import InvalidTransition, NotFound, SessionExpired, Unauthenticated
from agentkeep.keep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.user_sessions.models import NewUserSession

PROBLEM_JSON = "application/problem+json"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _belongings(keep: Keep, user_id: uuid.UUID) -> dict[str, Any]:
    """One of every kind of row a user owns."""
    conversation = await keep.conversations.create(user_id)
    root = await keep.messages.append(user_id, conversation.id, NewMessage(role="user", content="root"))
    reply = await keep.messages.append(
        user_id, conversation.id, NewMessage(role="assistant", content="re", parent_message_id=root.id)
    )
    key = await keep.access_keys.create(user_id)
    session = await keep.user_sessions.start(user_id, NewUserSession())
    agent_session = await keep.agent_sessions.create(user_id, NewAgentSession(agent_type="assistant"))
    running = await keep.agent_sessions.transition(
        user_id, agent_session.id, StatusChange(status="approved", version=agent_session.version)
    )
    return {
        "conversation": conversation,
        "root": root,
        "reply": reply,
        "key": key,
        "session": session,
        "agent_session": running,
    }


def _rest_reads(rows: dict[str, Any]) -> list[str]:
    conversation = rows["conversation"].id
    return [
        "/api/users/me",
        "/api/conversations",
        f"/api/conversations/{conversation}",
        f"/api/conversations/{conversation}/messages",
        f"/api/conversations/{conversation}/messages?order=asc",
        f"/api/conversations/{conversation}/messages/latest",
        f"/api/messages/{rows['root'].id}",
        f"/api/messages/{rows['reply'].id}/thread",
        "/api/keys",
        "/api/sessions",
        f"/api/sessions/{rows['session'].session.id}",
        "/api/agent-sessions",
        f"/api/agent-sessions/{rows['agent_session'].id}",
    ]


async def test_a_deleted_users_rows_are_out_of_reach(
    keep: Keep, client: httpx.AsyncClient, make_user: Any, service_key: str
) -> None:
    user, bystander = await make_user(), await make_user()
    rows = await _belongings(keep, user.user_id)
    theirs = await _belongings(keep, bystander.user_id)
    as_user = bearer(rows["key"].secret)
    as_service = bearer(service_key) | {"X-Agentkeep-User": str(user.user_id)}
    for url in _rest_reads(rows):  # every read works while the user is there
        for headers in (as_user, as_service):
            assert (await client.get(url, headers=headers)).status_code == 200, url

    deleted = await client.delete("/api/users/me", headers=as_user)
    assert deleted.status_code == 204, deleted.text

    # REST: the user's own key no longer opens anything; a service key acting for them finds
    # no such user.
    for url in _rest_reads(rows):
        refused = await client.get(url, headers=as_user)
        assert refused.status_code == 401, (url, refused.text)
        missing = await client.get(url, headers=as_service)
        assert missing.status_code == 404, (url, missing.text)
        assert missing.headers["content-type"].startswith(PROBLEM_JSON)
        assert [error["field"] for error in missing.json()["errors"]] == ["X-Agentkeep-User"]

    # SDK: the profile, the conversations and every message are not found.
    user_id = user.user_id
    conversation = rows["conversation"]
    for attempt in [
        keep.users.get(user_id),
        keep.conversations.get(user_id, conversation.id),
        keep.messages.latest(user_id, conversation.id),
        keep.messages.page(user_id, conversation.id),
        keep.messages.page(user_id, conversation.id, order="asc"),
        keep.messages.get(user_id, rows["root"].id),
        keep.messages.thread(user_id, rows["reply"].id),
        keep.messages.append(user_id, conversation.id, NewMessage(role="user", content="late")),
    ]:
        with pytest.raises(NotFound):
            await attempt
    assert (await keep.conversations.list(user_id, archived=None)).items == []
    # Keys, login sessions and agent sessions were ended in the same transaction: none works.
    with pytest.raises(Unauthenticated):
        await keep.access_keys.authenticate(rows["key"].secret)
    assert all(key.revoked_at is not None for key in await keep.access_keys.list(user_id))
    with pytest.raises(SessionExpired):
        await keep.user_sessions.touch(user_id, rows["session"].token)
    assert {session.status for session in (await keep.user_sessions.list(user_id)).items} == {"revoked"}
    agent_session = await keep.agent_sessions.get(user_id, rows["agent_session"].id)
    assert agent_session.status == "cancelled"
    with pytest.raises(InvalidTransition):
        await keep.agent_sessions.transition(
            user_id, agent_session.id, StatusChange(status="running", version=agent_session.version)
        )
    with pytest.raises(NotFound):
        await keep.users.delete(user_id)

    # The bystander keeps everything.
    as_bystander = bearer(theirs["key"].secret)
    for url in _rest_reads(theirs):
        assert (await client.get(url, headers=as_bystander)).status_code == 200, url
    assert (await keep.agent_sessions.get(bystander.user_id, theirs["agent_session"].id)).status == "approved"


async def test_messages_of_an_unknown_or_foreign_conversation_are_not_found(
    keep: Keep, client: httpx.AsyncClient, make_user: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    headers = bearer((await keep.access_keys.create(alice.user_id)).secret)
    empty = await keep.conversations.create(alice.user_id)
    bobs = await keep.conversations.create(bob.user_id)
    await keep.messages.append(bob.user_id, bobs.id, NewMessage(role="user", content="bob's"))

    # An empty conversation of one's own is an empty list, not a 404.
    assert await keep.messages.latest(alice.user_id, empty.id) == []
    assert (await keep.messages.page(alice.user_id, empty.id, order="asc")).items == []
    own = f"/api/conversations/{empty.id}/messages"
    assert (await client.get(own, headers=headers)).json() == {"items": [], "next_cursor": None}
    assert (await client.get(f"{own}/latest", headers=headers)).json() == {"items": [], "next_cursor": None}

    for conversation_id in (uuid.uuid4(), bobs.id):
        for attempt in [
            keep.messages.latest(alice.user_id, conversation_id),
            keep.messages.page(alice.user_id, conversation_id),
            keep.messages.page(alice.user_id, conversation_id, before=uuid.uuid4()),
            keep.messages.page(alice.user_id, conversation_id, order="asc"),
            keep.messages.page(alice.user_id, conversation_id, after=uuid.uuid4(), order="asc"),
        ]:
            with pytest.raises(NotFound) as refused:
                await attempt
            assert refused.value.field == "conversation_id"
        base = f"/api/conversations/{conversation_id}/messages"
        for url in (base, f"{base}?order=asc", f"{base}/latest"):
            response = await client.get(url, headers=headers)
            assert response.status_code == 404, (url, response.text)
            assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert [m.content for m in await keep.messages.latest(bob.user_id, bobs.id)] == ["bob's"]
