"""Pydantic building blocks shared by the domain models."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_JSON_BYTES = 256 * 1024


def _bounded_json(value: Any) -> Any:
    if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_JSON_BYTES:
        raise ValueError(f"is larger than {MAX_JSON_BYTES} bytes of JSON")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
JsonArray = Annotated[list[Any], AfterValidator(_bounded_json)]
Version = Annotated[int, Field(ge=1, description="The version you read; a stale one is refused (409).")]


class Input(BaseModel):
    """Input models refuse unknown fields, so a typo is an error instead of a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def error_message(error: Mapping[str, Any]) -> str:
    """Pydantic's message for one error, without its "Value error, " preamble."""
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def error_field(location: Sequence[Any]) -> str:
    """The dotted path of the input at fault, without FastAPI's body/query/path/header prefix."""
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"
