"""RFC 9457 problem details: every error the API returns has this shape.

``errors`` lists each input at fault as ``{"field": ..., "message": ...}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentkeep.errors import AgentkeepError, Unauthenticated
from agentkeep.models import error_field, error_message

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://agentkeep.dev/problems/"


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
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
    errors = [{"field": error_field(error.get("loc", ())), "message": error_message(error)} for error in raw]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, detail, title="Invalid input", instance=request.url.path, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentkeepError, _agentkeep_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
