"""agentkeep from Python: a user, a conversation, two messages, then the context to send a model.

Run it with the project's virtual environment (created by `make install`, `make run` or `make test`):

    .venv/bin/python examples/quickstart.py

With AGENTKEEP_DATABASE_URL unset it starts (or reuses) the embedded PostgreSQL and migrates it;
otherwise it uses that database, which must already be migrated (`agentkeep migrate up`).
"""

from __future__ import annotations

import asyncio
import uuid

from agentkeep import Keep
from agentkeep.messages.models import NewMessage
from agentkeep.users.models import NewUser


async def main() -> None:
    keep = await Keep.connect()
    try:
        # Emails are unique: a fresh one per run, so the example can run again.
        email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
        user = await keep.users.create(NewUser(email=email))
        chat = await keep.conversations.create(user.user_id)
        await keep.messages.append(user.user_id, chat.id, NewMessage(role="user", content="Hello"))
        await keep.messages.append(
            user.user_id, chat.id, NewMessage(role="assistant", content="Hello! How can I help?")
        )
        context = await keep.messages.latest(user.user_id, chat.id, limit=50)  # oldest first
        print(f"user {user.user_id} ({email}), conversation {chat.id}")
        for message in context:
            print(f"{message.role}: {message.content}")
    finally:
        await keep.close()


if __name__ == "__main__":
    asyncio.run(main())
