"""Every route, driven by the OpenAPI document: bad values in every field are a 4xx naming it.

For each operation the walk builds a valid request from the schema, then spoils one input at a
time: a NUL character in every string (body, query, path, header), an integer of 2**31 in every
integer, and, in every free-form JSON field, JSON nested deeper than the limit, NUL in a key and
in a value, a lone surrogate, NaN and Infinity. Each answer must be a problem+json 4xx whose
errors[] names that input: never a 500, never a success.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from support import PROBLEM_JSON, Account

from agentkeep.api.app import create_app
from agentkeep.keep import Keep
from agentkeep.models import MAX_JSON_DEPTH

NUL = "bad\u0000value"
TOO_BIG = 2**31
SAMPLES = {"email": "walker@example.com", "timezone": "UTC", "username": "walker", "status": "cancelled"}


@dataclass(frozen=True)
class Case:
    operation: str
    field: str
    location: str  # body, query, path or header
    what: str


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: $ref followed, an Optional's null member dropped."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            members = [member for member in schema["anyOf"] if member.get("type") != "null"]
            schema = members[0]
        else:
            return schema


def _sample(spec: dict[str, Any], name: str, schema: dict[str, Any]) -> Any:
    schema = _resolve(spec, schema)
    if name in SAMPLES:
        return SAMPLES[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return _valid_body(spec, schema)
    if kind == "object":
        return {}
    if kind == "array":
        items = schema.get("items", {})
        return [_sample(spec, name, items)] if "$ref" in items else []
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("format") == "date-time":
        return datetime.now(UTC).isoformat()
    return "x" * max(schema.get("minLength", 1), 1)


def _valid_body(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    schema = _resolve(spec, schema)
    return {
        name: _sample(spec, name, prop)
        for name, prop in schema.get("properties", {}).items()
        if name in schema.get("required", [])
    }


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _spoilt_json(kind: str) -> Iterator[tuple[str, str]]:
    """(what, raw JSON text) of bad free-form JSON values of ``kind`` (object or array)."""
    wrap = (lambda text: text) if kind == "object" else (lambda text: f"[{text}]")
    yield "deep", wrap(json.dumps(_deep(MAX_JSON_DEPTH + 10)))
    yield "NUL in a key", wrap('{"k\\u0000": 1}')
    yield "NUL in a value", wrap('{"k": "v\\u0000"}')
    yield "lone surrogate", wrap('{"k": "\\ud800"}')
    yield "NaN", wrap('{"k": NaN}')
    yield "Infinity", wrap('{"k": -Infinity}')


def _body_spoils(
    spec: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str, list[tuple[str, Any]]]]:
    """(field, what, [(path-to-value, replacement)]) for every input of a body schema."""
    schema = _resolve(spec, schema)
    for name, prop in schema.get("properties", {}).items():
        field = f"{prefix}{name}"
        resolved = _resolve(spec, prop)
        kind = resolved.get("type")
        if "enum" in resolved or kind == "string":
            yield field, "NUL", [(field, NUL)]
        elif kind == "integer":
            yield field, "2**31", [(field, TOO_BIG)]
        elif kind == "array" and "$ref" in resolved.get("items", {}):
            yield from _body_spoils(spec, resolved["items"], f"{field}.0.")
        elif kind in ("object", "array") and "properties" not in resolved:
            for what, raw in _spoilt_json(kind):
                yield field, what, [(field, RawJson(raw))]
        elif kind == "object":
            yield from _body_spoils(spec, resolved, f"{field}.")


@dataclass(frozen=True)
class RawJson:
    text: str


def _place(body: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    target: Any = body
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = value


def _encode(value: Any) -> str:
    """JSON text, with RawJson values spliced in verbatim (NaN and lone surrogates included)."""
    raws: dict[str, str] = {}

    def default(item: Any) -> str:
        marker = f"@@raw{len(raws)}@@"
        raws[marker] = item.text
        return marker

    text = json.dumps(value, default=default)
    for marker, raw in raws.items():
        text = text.replace(json.dumps(marker), raw)
    return text


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.fixture
async def service_client(keep: Keep) -> Any:
    app = create_app(keep=keep)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://agentkeep.test") as http:
        yield http


async def test_every_input_of_every_route_refuses_bad_values_naming_the_field(
    keep: Keep, service_client: httpx.AsyncClient, service_key: str, alice: Account
) -> None:
    spec = create_app(keep=keep).openapi()
    service_headers = {"Authorization": f"Bearer {service_key}", "X-Agentkeep-User": alice.user_id}
    # /api/operator/* takes only an operator key (a service key is refused before any input is read).
    operator_key = await keep.access_keys.create_operator_key("openapi walk")
    operator_headers = {"Authorization": f"Bearer {operator_key.secret}"}
    failures: list[str] = []
    checked: set[tuple[str, str]] = set()

    async def expect_refusal(case: Case, response: httpx.Response) -> None:
        checked.add((case.operation, case.field))
        body = response.json() if response.headers.get("content-type", "").startswith(PROBLEM_JSON) else None
        fields = [error["field"] for error in (body or {}).get("errors", [])]
        if not (400 <= response.status_code < 500 and body is not None and case.field in fields):
            failures.append(f"{case}: {response.status_code} {response.text[:300]}")

    for method, path, operation in _operations(spec):
        params = operation.get("parameters", [])
        # A valid value of each path parameter's own schema (ids are UUIDs; a provider a name).
        path_values = {
            p["name"]: str(_sample(spec, p["name"], _resolve(spec, p.get("schema", {}))))
            for p in params
            if p["in"] == "path"
        }
        url = path.format(**path_values)
        body_schema = (
            operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        )
        valid = _valid_body(spec, body_schema) if body_schema else None
        label = f"{method} {path}"
        headers = operator_headers if path.startswith("/api/operator/") else service_headers

        for param in params:
            name, where = param["name"], param["in"]
            if name.lower() == "x-agentkeep-user" or name == "authorization":
                continue  # the walk's own credentials; NUL in headers: test_api_server.py
            kind = _resolve(spec, param.get("schema", {})).get("type")
            spoils = [("NUL", NUL)] + ([("2**31", TOO_BIG)] if kind == "integer" else [])
            for what, bad in spoils:
                case = Case(label, name, where, what)
                if where == "path":
                    spoilt_url = path.format(**(path_values | {name: quote(str(bad), safe="")}))
                    response = await service_client.request(method, spoilt_url, headers=headers, json=valid)
                elif where == "query":
                    response = await service_client.request(
                        method, url, params={name: bad}, headers=headers, json=valid
                    )
                else:
                    continue
                await expect_refusal(case, response)

        if body_schema is None:
            continue
        for field, what, replacements in _body_spoils(spec, body_schema):
            body = json.loads(json.dumps(valid if valid is not None else {}))
            for dotted, value in replacements:
                _place(body, dotted, value)
            response = await service_client.request(
                method,
                url,
                content=_encode(body).encode("utf-8", "surrogatepass"),
                headers=headers | {"content-type": "application/json"},
            )
            await expect_refusal(Case(label, field, "body", what), response)

    assert failures == [], "\n".join(failures)
    # The walk really covered the inputs of issue 5 (and the document really has them).
    for expected in [
        ("POST /api/conversations/{conversation_id}/messages", "content"),
        ("POST /api/conversations/{conversation_id}/messages", "metadata"),
        ("POST /api/conversations/{conversation_id}/messages", "token_count"),
        ("POST /api/conversations/{conversation_id}/messages", "reasoning_trace"),
        ("POST /api/conversations/{conversation_id}/messages/batch", "messages.0.content"),
        ("POST /api/conversations", "title"),
        ("PATCH /api/conversations/{conversation_id}", "version"),
        ("POST /api/users", "full_name"),
        ("PATCH /api/users/me", "preferences_json"),
        ("GET /api/operator/user-activity", "before"),
        ("POST /api/agent-sessions", "agent_type"),
        ("POST /api/agents", "config"),
        ("PATCH /api/personas/{persona_id}", "capabilities"),
        ("POST /api/sessions", "ip_address"),
        ("POST /api/sessions/touch", "token"),
        ("GET /api/conversations", "limit"),
        ("GET /api/messages/{message_id}", "message_id"),
        ("POST /api/agent-sessions/{session_id}/persona-activations/{activation_id}/deactivate", "results"),
    ]:
        assert expected in checked, expected
    assert len(checked) > 100
