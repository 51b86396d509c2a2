"""JSON in and out of PostgreSQL on the asyncpg hot paths, with orjson.

Parameters go in as JSON text and jsonb columns come out as JSON text (asyncpg's own codecs,
in C); the caller decodes them with :func:`loads`. A Python codec that asyncpg calls for every
JSON value cost more than the decoding itself when reading the latest messages
(docs/benchmarks.md). orjson parses about four times faster than the standard library here;
what it refuses (integers wider than 64 bits) falls back to the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Compact JSON text for a json/jsonb parameter."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
