"""The errors agentkeep raises. Each interface maps them: HTTP status, CLI exit, Python type."""

from __future__ import annotations


class AgentkeepError(Exception):
    """Base class. ``field`` names the input at fault when one is."""

    status_code = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class ConfigurationError(AgentkeepError):
    title = "Configuration error"
    status_code = 500


class InvalidInput(AgentkeepError):
    status_code = 422
    title = "Invalid input"


class NotFound(AgentkeepError):
    status_code = 404
    title = "Not found"


class Conflict(AgentkeepError):
    status_code = 409
    title = "Conflict"


class StaleVersion(Conflict):
    title = "Stale version"


class InvalidTransition(Conflict):
    title = "Invalid status transition"


class SessionExpired(AgentkeepError):
    status_code = 401
    title = "Session expired"


class Unauthenticated(AgentkeepError):
    status_code = 401
    title = "Unauthenticated"


class Forbidden(AgentkeepError):
    status_code = 403
    title = "Forbidden"


class UnreadableRow(AgentkeepError):
    """A stored row breaks the limits its values are written under (written by hand, or before
    the limits were enforced): the operator must repair it. Lists leave such a row out."""

    status_code = 500
    title = "Unreadable stored row"
