"""Pydantic building blocks shared by the domain models, and the input limits, declared once.

Every limit a value must meet to be stored *and read back* lives here, so the REST API, the
SDK (which validates through the same input models) and the readers enforce the same ones:

- text: no NUL character (PostgreSQL text cannot hold one) and no lone surrogate (not UTF-8);
- integers: within the range of the column they go to (``Int32``, ``Version``, ``Count``);
- JSON: only JSON types (objects with string keys, arrays, strings, finite numbers, booleans,
  null), nested at most ``MAX_JSON_DEPTH`` deep (deeper values cannot be serialised back),
  at most ``MAX_JSON_BYTES`` long, and every string and key a valid text;
- null: an input model that names its table (``stored_in``) refuses an explicit null for a
  column that is NOT NULL, so a value that could not be read back is never written.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from agentkeep.errors import InvalidInput, UnreadableRow

MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 64
"""Containers inside containers. pydantic refuses to serialise much past 250; 64 leaves room."""
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

log = logging.getLogger(__name__)


def check_text(value: str) -> str:
    """A string PostgreSQL can store and give back: no NUL, no lone surrogate."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"is not valid Unicode: a lone surrogate at character {exc.start}") from None
    return value


def check_datetime(value: datetime) -> datetime:
    """A time PostgreSQL can store: timestamptz is kept in UTC, which must be a Python datetime too.

    0001-01-01T00:00+14:00 is in year 0 in UTC (and 9999-12-31T23:59-14:00 in year 10000), which
    the driver cannot convert.
    """
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range: in UTC it falls outside the years 1 to 9999") from None
    return value


def _where(path: Sequence[str | int]) -> str:
    shown = "".join(f"[{part!r}]" for part in path[:8]) + ("…" if len(path) > 8 else "")
    return shown or "the top level"


def check_json(value: Any) -> Any:
    """Refuse what PostgreSQL's jsonb or the way back out cannot take; return ``value`` unchanged.

    Walks without recursion, so a value nested thousands deep is refused, not a RecursionError.
    """
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth + 1 > MAX_JSON_DEPTH:
                raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels (at {_where(path)})")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise ValueError(f"has a key that is not a string: {key!r} (at {_where(path)})")
                    _check_json_text(key, path, "a key")
                    stack.append((child, (*path, key), depth + 1))
            else:
                stack.extend((child, (*path, index), depth + 1) for index, child in enumerate(item))
        elif isinstance(item, str):
            _check_json_text(item, path, "a string")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"holds {item}, which JSON cannot represent (at {_where(path)})")
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"holds a {type(item).__name__}, which is not a JSON value (at {_where(path)})")
    return value


def _check_json_text(text: str, path: Sequence[str | int], what: str) -> None:
    try:
        check_text(text)
    except ValueError as exc:
        raise ValueError(f"has {what} that {exc} (at {_where(path)})") from None


def _bounded_json(value: Any) -> Any:
    check_json(value)  # first: it bounds the depth json.dumps will recurse to
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False)) > MAX_JSON_BYTES:
        raise ValueError(f"is larger than {MAX_JSON_BYTES} bytes of JSON")
    return value


def checked_json_input(value: Any, *, field: str) -> Any:
    """``value`` if it is storable JSON, for an SDK argument that no input model carries."""
    try:
        return _bounded_json(value)
    except ValueError as exc:
        raise InvalidInput(f"{field} {exc}", field=field) from None


def nesting_depth(value: Any) -> int:
    """How many containers deep ``value`` goes (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
JsonArray = Annotated[list[Any], AfterValidator(_bounded_json)]
JsonValue = Annotated[Any, AfterValidator(_bounded_json)]
"""Any JSON value: object, array, string, number, boolean or null."""
Text = Annotated[str, AfterValidator(check_text)]
"""A string parameter outside an input model (a body or query parameter of its own)."""
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative count stored in an integer (int4) column."""
SessionTtl = Annotated[int, Field(ge=60, le=31_536_000)]
"""Seconds a user session lives: a year at most, for a request and AGENTKEEP_SESSION_TTL_SECONDS alike."""
Version = Annotated[
    int, Field(ge=1, le=INT32_MAX, description="The version you read; a stale one is refused (409).")
]


class Input(BaseModel):
    """Input models refuse unknown fields, so a typo is an error instead of a silent no-op.

    Every string field is checked by ``check_text`` (NUL, lone surrogates); JSON fields use
    ``JsonObject``/``JsonArray``/``JsonValue``. A model that sets ``stored_in`` refuses an
    explicit null for a field whose column is NOT NULL ("leave it out to keep the value").
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    stored_in: ClassVar[sa.Table | None] = None

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, SecretStr):
            check_text(value.get_secret_value())
        elif isinstance(value, datetime):
            check_datetime(value)
        elif value is None and info.field_name not in (None, "version") and cls.stored_in is not None:
            # (a null ``version`` is not written: it means "whatever the version is")
            column = cls.stored_in.c.get(str(info.field_name))
            if column is not None and not column.nullable:
                raise ValueError("must not be null; leave it out to keep the current value")
        return value


class Output(BaseModel):
    """What is read back. JSON deeper than the input limit is refused here too (see ``read_all``)."""

    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _readable(cls, value: Any) -> Any:
        if isinstance(value, dict | list) and nesting_depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
        return value


Read = TypeVar("Read", bound=Output)


def read_one(model: type[Read], row: Mapping[Any, Any], *, what: str) -> Read:
    """One stored row as ``model``; a row that breaks the limits is an UnreadableRow, not a crash."""
    try:
        return model.model_validate(dict(row))
    except ValidationError as exc:
        fields = ", ".join(sorted({error_field(error["loc"]) for error in exc.errors()}))
        log.error("%s %s cannot be read back (%s): %s", what, row.get("id"), fields, exc)
        raise UnreadableRow(
            f"this {what} holds a value agentkeep cannot return ({fields}); an operator must repair it",
            field=fields,
        ) from None


def read_all(model: type[Read], rows: Iterable[Mapping[Any, Any]], *, what: str) -> list[Read]:
    """Stored rows as ``model``, leaving out (and logging) any row that cannot be read back.

    Such a row was written before its limits were enforced, or by hand; one of them must not
    break a list every user reads (the agent and persona catalogs).
    """
    items: list[Read] = []
    for row in rows:
        try:
            items.append(read_one(model, row, what=what))
        except UnreadableRow:
            continue
    return items


def reader(model: type[Read], *, what: str) -> Callable[[Sequence[Mapping[Any, Any]]], list[Read]]:
    """``read_all`` for ``pagination.page_of``."""
    return lambda rows: read_all(model, rows, what=what)


def error_message(error: Mapping[str, Any]) -> str:
    """Pydantic's message for one error, without its "Value error, " preamble."""
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


# The tags pydantic puts in an error's location to say which member of a union failed: not
# names of the caller's input, so they never reach a client.
_UNION_TAGS = frozenset(
    {"str", "int", "float", "bool", "decimal", "uuid", "datetime", "date", "none", "bytes"}
)
_LOCATION_PREFIXES = frozenset({"body", "query", "path", "header", "cookie"})


def _is_input_name(part: Any, index: int) -> bool:
    if isinstance(part, int):
        return True
    text = str(part)
    if index == 0 and text in _LOCATION_PREFIXES:
        return False
    return not ("[" in text or "(" in text or text in _UNION_TAGS)


def error_field(location: Sequence[Any]) -> str:
    """The dotted path of the input at fault: no body/query/path/header prefix, no union tags."""
    parts = [str(part) for index, part in enumerate(location) if _is_input_name(part, index)]
    return ".".join(parts) or "body"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One ``{"field", "message"}`` per input at fault, from pydantic's errors.

    A union reports one error per member it tried (``dict`` or ``list``, IPv4 or IPv6): they
    become one entry for the field. When one of them is a check of ours (a ``value_error``),
    it says what is wrong with the value better than "should be a valid list", so it wins.
    """
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for error in errors:
        grouped.setdefault(error_field(error.get("loc", ())), []).append(error)
    result = []
    for field, group in grouped.items():
        ours = [error for error in group if error.get("type") == "value_error"]
        messages = list(dict.fromkeys(error_message(error) for error in ours or group))
        result.append({"field": field, "message": " or ".join(messages)})
    return result
