"""/api/provider-keys: the caller's AI provider API keys, sealed by the vault (seed 003).

Lists show the provider and the key's last 4 characters; only the owner (a user key) may
reveal a key, with an explicit POST (never a GET a proxy might log or cache).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, SecretStr

from agentkeep.api.dependencies import KeepDep, UserPrincipalDep
from agentkeep.errors import Forbidden
from agentkeep.principal import PrincipalKind
from agentkeep.provider_keys.models import Provider, ProviderKey

router = APIRouter(prefix="/api/provider-keys", tags=["provider keys"])


class ProviderKeyBody(BaseModel):
    api_key: SecretStr


class RevealedKey(BaseModel):
    provider: str
    api_key: str


@router.get("")
async def list_provider_keys(keep: KeepDep, principal: UserPrincipalDep) -> list[ProviderKey]:
    return await keep.provider_keys.list(principal)


@router.put("/{provider}")
async def set_provider_key(
    keep: KeepDep, principal: UserPrincipalDep, provider: Provider, body: ProviderKeyBody
) -> ProviderKey:
    return await keep.provider_keys.set(principal, provider, body.api_key)


@router.post("/{provider}/reveal")
async def reveal_provider_key(keep: KeepDep, principal: UserPrincipalDep, provider: Provider) -> RevealedKey:
    """The key itself: for its owner's own user key only (a service key gets 403)."""
    if principal.kind is not PrincipalKind.USER:
        raise Forbidden("only the key's owner (a user key) may reveal it")
    secret = await keep.provider_keys.reveal(principal, provider)
    return RevealedKey(provider=provider, api_key=secret.get_secret_value())


@router.delete("/{provider}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_provider_key(keep: KeepDep, principal: UserPrincipalDep, provider: Provider) -> None:
    await keep.provider_keys.delete(principal, provider)
