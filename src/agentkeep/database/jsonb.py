"""JSON in and out of PostgreSQL on the asyncpg hot paths, with orjson.

orjson parses about four times faster than the standard library here, and decoding the jsonb
columns of every row was a visible part of reading the latest messages (docs/benchmarks.md).
What orjson refuses (integers wider than 64 bits) falls back to the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import orjson

_JSONB_VERSION = b"\x01"  # the first byte of jsonb's binary form: its format version


def dumps(value: Any) -> str:
    """Compact JSON text for a json/jsonb parameter."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _decode_jsonb(data: bytes) -> Any:
    if data == b"\x01{}":
        return {}  # the most common value of every JSON column: skip the parser
    return _loads(data[1:])


def _encode_jsonb(text: str) -> bytes:
    return _JSONB_VERSION + text.encode()


async def install_codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb parameters are JSON text (see :func:`dumps`); results are Python objects."""
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("json", encoder=str, decoder=_loads, schema="pg_catalog", format="text")
