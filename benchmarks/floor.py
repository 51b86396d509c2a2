"""The physical floor: plain asyncpg, hand-written SQL, the same schema, role and RLS.

One connection as ``agentkeep_app``, the same ``BEGIN; SET LOCAL …`` round trip the SDK sends
(the statement text built once), then the best statement for the job (prepared by asyncpg's
statement cache), then ``COMMIT``. No pool, no models, no JSON codec: rows stay asyncpg Records
and jsonb stays text. Whatever the SDK adds on top of this is its overhead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import uuid_utils.compat

# Only the columns a new chat message needs; the rest take their defaults.
INSERT_ONE = """
INSERT INTO messages (user_id, id, conversation_id, role, content)
VALUES ($1, $2, $3, $4, $5)
"""

INSERT_UNNEST = """
INSERT INTO messages (user_id, id, conversation_id, role, content)
SELECT $1, m.id, $2, m.role, m.content
FROM unnest($3::uuid[], $4::text[], $5::text[]) AS m(id, role, content)
"""

# The same columns the SDK returns, the same index (user_id, conversation_id, id) backwards.
LATEST = """
SELECT id, user_id, conversation_id, parent_message_id, agent_session_id, role, message_type, content,
       agent_name, reasoning_trace, ethical_validation, metadata, token_count, model_used,
       created_at
FROM messages
WHERE user_id = $1 AND conversation_id = $2 AND deleted_at IS NULL
ORDER BY id DESC
LIMIT $3
"""

DELETE_CONVERSATIONS = "DELETE FROM conversations WHERE user_id = $1 AND id = ANY($2::uuid[])"


class Floor:
    def __init__(self, conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
        self.conn = conn
        self.user_id = user_id
        # Byte for byte what agentkeep.database.engine.begin_statement sends for a service
        # principal acting for this user.
        self.begin = (
            f"BEGIN; SET LOCAL agentkeep.user_id = '{user_id}'; SET LOCAL agentkeep.principal = 'service'"
        )

    @classmethod
    async def connect(
        cls, dsn: str, user_id: uuid.UUID, server_settings: dict[str, str] | None = None
    ) -> Floor:
        return cls(await asyncpg.connect(dsn, server_settings=server_settings), user_id)

    async def close(self) -> None:
        await self.conn.close()

    async def append_one(self, conversation_id: uuid.UUID, role: str, content: str) -> None:
        conn = self.conn
        await conn.execute(self.begin)
        await conn.execute(
            INSERT_ONE, self.user_id, uuid_utils.compat.uuid7(), conversation_id, role, content
        )
        await conn.execute("COMMIT")

    async def append_unnest(
        self, conversation_id: uuid.UUID, roles: Sequence[str], contents: Sequence[str]
    ) -> None:
        """A batch as one multi-row INSERT from arrays."""
        ids = [uuid_utils.compat.uuid7() for _ in roles]
        conn = self.conn
        await conn.execute(self.begin)
        await conn.execute(INSERT_UNNEST, self.user_id, conversation_id, ids, roles, contents)
        await conn.execute("COMMIT")

    async def append_executemany(
        self, conversation_id: uuid.UUID, roles: Sequence[str], contents: Sequence[str]
    ) -> None:
        """A batch as one prepared INSERT executed for every row (asyncpg pipelines them)."""
        user_id = self.user_id
        rows = [
            (user_id, uuid_utils.compat.uuid7(), conversation_id, role, content)
            for role, content in zip(roles, contents, strict=True)
        ]
        conn = self.conn
        await conn.execute(self.begin)
        await conn.executemany(INSERT_ONE, rows)
        await conn.execute("COMMIT")

    async def latest(self, conversation_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
        conn = self.conn
        await conn.execute(self.begin)
        rows = await conn.fetch(LATEST, self.user_id, conversation_id, limit)
        await conn.execute("COMMIT")
        return rows

    async def try_copy(self, conversation_id: uuid.UUID) -> str:
        """COPY is the fastest bulk path PostgreSQL has; under RLS it is refused. Returns why."""
        conn = self.conn
        await conn.execute(self.begin)
        try:
            await conn.copy_records_to_table(
                "messages",
                records=[(self.user_id, uuid_utils.compat.uuid7(), conversation_id, "user", "x")],
                columns=["user_id", "id", "conversation_id", "role", "content"],
            )
        except asyncpg.PostgresError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            await conn.execute("ROLLBACK")
        return "accepted (unexpected: the table should be under row-level security)"

    async def delete_conversations(self, conversation_ids: Sequence[uuid.UUID]) -> Any:
        conn = self.conn
        await conn.execute(self.begin)
        result = await conn.execute(DELETE_CONVERSATIONS, self.user_id, list(conversation_ids))
        await conn.execute("COMMIT")
        return result
