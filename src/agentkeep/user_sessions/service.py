"""User sessions: start (token shown once), validate and touch, end, expire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from agentkeep.actors import Actor, acting_user, as_principal
from agentkeep.database.engine import Database
from agentkeep.errors import Conflict, NotFound, SessionExpired
from agentkeep.ids import new_id
from agentkeep.models import reader
from agentkeep.pagination import Page, checked_limit, page_of
from agentkeep.tokens import digest, new_secret
from agentkeep.user_sessions import repository
from agentkeep.user_sessions.models import NewUserSession, StartedUserSession, UserSession


class UserSessionService:
    def __init__(self, database: Database, *, default_ttl_seconds: int) -> None:
        self._database = database
        self._default_ttl = default_ttl_seconds

    async def start(self, actor: Actor, new: NewUserSession) -> StartedUserSession:
        user_id = acting_user(actor)
        token = new_secret()
        now = datetime.now(UTC)
        values = new.model_dump(exclude={"ttl_seconds", "ip_address"}) | {
            "user_id": user_id,
            "id": new_id(),
            "token_hash": digest(token),
            "ip_address": str(new.ip_address) if new.ip_address is not None else None,
            "started_at": now,
            "last_activity_at": now,
            "expires_at": now + timedelta(seconds=new.ttl_seconds or self._default_ttl),
        }
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.insert(tx.conn, values)
        return StartedUserSession(session=UserSession.model_validate(dict(row)), token=token)

    async def touch(self, actor: Actor, token: str) -> UserSession:
        """Validate a session token and record activity on it.

        An expired session is marked expired (that change is kept) and then refused with
        SessionExpired; an ended or revoked one is refused the same way.
        """
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.by_token(tx.conn, user_id, digest(token))
            if row is None:
                raise NotFound("no session has that token")
            if row["status"] == "active" and row["is_overdue"]:
                await repository.close(tx.conn, user_id, row["id"], "expired")
                refusal = f"session expired at {row['expires_at'].isoformat()}"
            elif row["status"] != "active":
                refusal = f"session is {row['status']}"
            else:
                return UserSession.model_validate(dict(await repository.touch(tx.conn, user_id, row["id"])))
        raise SessionExpired(refusal)

    async def get(self, actor: Actor, session_id: uuid.UUID) -> UserSession:
        """The session; one past its expiry is marked expired first, so its status is true."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            await repository.expire_overdue(tx.conn, user_id)
            row = await repository.get(tx.conn, user_id, session_id)
        if row is None:
            raise NotFound("session not found")
        return UserSession.model_validate(dict(row))

    async def list(
        self,
        actor: Actor,
        *,
        active_only: bool = False,
        before: uuid.UUID | None = None,
        limit: int = 50,
    ) -> Page[UserSession]:
        """Newest first. Sessions past their expiry are marked expired first (in the same
        transaction), so ``active_only`` never lists one that has run out."""
        limit = checked_limit(limit)
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            await repository.expire_overdue(tx.conn, user_id)
            rows = await repository.list_for_user(
                tx.conn, user_id, active_only=active_only, before=before, limit=limit + 1
            )
        return page_of(rows, limit, reader(UserSession, what="session"))

    async def end(self, actor: Actor, session_id: uuid.UUID, *, status: str = "ended") -> UserSession:
        """Log out (``ended``) or revoke (``revoked``) an active session."""
        user_id = acting_user(actor)
        async with self._database.transaction(as_principal(actor)) as tx:
            row = await repository.close(tx.conn, user_id, session_id, status)
            if row is None and await repository.get(tx.conn, user_id, session_id) is None:
                raise NotFound("session not found")
        if row is None:
            raise Conflict("session is no longer active", field="status")
        return UserSession.model_validate(dict(row))

    async def expire_overdue(self, actor: Actor) -> int:
        async with self._database.transaction(as_principal(actor)) as tx:
            return await repository.expire_overdue(tx.conn, acting_user(actor))
