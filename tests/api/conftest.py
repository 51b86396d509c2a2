"""Fixtures of the REST API tests.

Users and their keys are made through the API itself (the service key creates the user, then
that user's key); ``client`` and ``service_key`` come from tests/conftest.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from support import Account, bearer


@pytest.fixture
def service(service_key: str) -> dict[str, str]:
    return bearer(service_key)


@pytest.fixture
def new_account(client: httpx.AsyncClient, service: dict[str, str]) -> Callable[[], Awaitable[Account]]:
    async def make() -> Account:
        suffix = uuid.uuid4().hex[:12]
        created = await client.post(
            "/api/users", json={"email": f"api-{suffix}@example.com"}, headers=service
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["user_id"]
        key = await client.post(
            "/api/keys", json={"name": "tests"}, headers=service | {"X-Agentkeep-User": user_id}
        )
        assert key.status_code == 201, key.text
        body = key.json()
        assert body["secret"].startswith("ak_")
        assert body["key"]["user_id"] == user_id
        return Account(user_id=user_id, key=body["secret"], key_id=body["key"]["id"])

    return make


@pytest.fixture
async def alice(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
async def bob(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()
