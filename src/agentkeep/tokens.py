"""Bearer secrets: random, shown once, stored only as SHA-256.

SHA-256 (not a slow hash) is right here: the secrets are 256 random bits, so there is nothing to
guess, and every request must check one quickly.
"""

from __future__ import annotations

import hashlib
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
