"""RFC 9457 problem details: every error the API returns has this shape.

``errors`` lists each input at fault as ``{"field": ..., "message": ...}``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentkeep.api.observability import CORRELATION_SCOPE_KEY
from agentkeep.correlation import HEADER
from agentkeep.errors import AgentkeepError, Unauthenticated
from agentkeep.models import MAX_JSON_DEPTH, field_errors

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://agentkeep.dev/problems/"


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response (RFC 9457), as documented in the OpenAPI schema."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


_DOCUMENTED = {
    400: "Malformed JSON, or a request that cannot be understood",
    401: "No key, or an unknown, expired or revoked one; or an expired session",
    403: "The principal may not do this (a user key writing a catalog, say)",
    404: "No such row for this user (whether it does not exist or belongs to someone else)",
    409: "A stale version, a taken name, or a transition the status machine refuses",
    413: "The request body is larger than AGENTKEEP_MAX_REQUEST_BYTES",
    422: "Invalid input; errors[] names each field at fault",
    503: "The database is not reachable",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "model": Problem,  # registers the schema; the content below says which media type carries it
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in _DOCUMENTED.items()
}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    title = title or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _agentkeep_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentkeepError)
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return problem(
        exc.status_code,
        exc.detail,
        title=exc.title,
        instance=request.url.path,
        errors=errors,
        headers=headers,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(error.get("type") == "json_invalid" for error in raw):
        return problem(
            400, "the request body is not valid JSON", title="Malformed JSON", instance=request.url.path
        )
    errors = field_errors(raw)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, detail, title="Invalid input", instance=request.url.path, errors=errors)


def _too_deep_at(text: str) -> str:
    """The top-level field holding the first container nested deeper than MAX_JSON_DEPTH.

    For a body too deep for the JSON parser itself (a RecursionError about 1,000 levels down):
    walks the text without recursion, tracking object keys and array indexes.
    """
    path: list[list[Any]] = []  # [kind, key or index, expecting a key]
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if path and path[-1][0] == "{" and path[-1][2]:
                path[-1][1], path[-1][2] = json.loads(text[index : end + 1]), False
            index = end
        elif char in "{[":
            if len(path) >= MAX_JSON_DEPTH:
                break
            path.append([char, 0, char == "{"])
        elif char in "}]" and path:
            path.pop()
        elif char == "," and path:
            if path[-1][0] == "[":
                path[-1][1] += 1
            else:
                path[-1][2] = True
        index += 1
    # The input at fault is the body's top-level field (a JSON field is refused as a whole).
    return str(path[0][1]) if path and path[0][0] == "{" and not path[0][2] else "body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, RecursionError):
        # Valid JSON nested too deep for the parser: refused like a deep value in any JSON field.
        field = _too_deep_at((await request.body()).decode("utf-8", "replace"))
        message = f"is nested deeper than {MAX_JSON_DEPTH} levels"
        return problem(
            422,
            f"{field}: {message}",
            title="Invalid input",
            instance=request.url.path,
            errors=[{"field": field, "message": message}],
        )
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The details go to the server's log (Starlette re-raises after answering), not to the client.
    # This answer is sent outside the middleware that adds X-Correlation-Id, so it adds it itself.
    correlation_id = request.scope.get(CORRELATION_SCOPE_KEY)
    headers = {HEADER: correlation_id} if correlation_id else None
    if isinstance(exc, OSError | asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return problem(
            503, "the database is not reachable; try again", instance=request.url.path, headers=headers
        )
    return problem(500, "an unexpected error; it has been logged", instance=request.url.path, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentkeepError, _agentkeep_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
