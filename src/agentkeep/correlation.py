"""The correlation id of the request being served: one string that ties a request's log lines,
responses and (later) audit entries together.

The API sets it per request from ``X-Correlation-Id`` (or makes one); anything below reads it with
:func:`current_correlation_id`. A context variable, so concurrent requests never see each other's.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token

HEADER = "X-Correlation-Id"
MAX_LENGTH = 128
# Only characters that are safe in a header, a log line and a label, so a caller's id is echoed as is.
_ACCEPTED = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("agentkeep_correlation_id", default=None)


def accepted_or_new(offered: str | None) -> str:
    """``offered`` when it is 1 to 128 characters of ``[A-Za-z0-9._-]``, otherwise a new UUID."""
    if offered is not None and _ACCEPTED.fullmatch(offered):
        return offered
    return str(uuid.uuid4())


def current_correlation_id() -> str | None:
    """The id of the request this code runs for, or None outside a request."""
    return _current.get()


def bind(correlation_id: str | None) -> Token[str | None]:
    """Make ``correlation_id`` current; returns the token :func:`unbind` takes."""
    return _current.set(correlation_id)


def unbind(token: Token[str | None]) -> None:
    _current.reset(token)
