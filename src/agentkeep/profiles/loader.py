"""Reading profile files: TOML or JSON, ``extends`` resolved, merged, validated, in one line on error.

``load_profile(spec)``: ``spec`` is a shipped name (``kai``) or a path (it contains a ``/`` or
ends in ``.toml``/``.json``). Every file but ``default`` extends ``default`` unless it names
another parent. Nothing here touches a database: a bad file is refused before anything is applied.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from agentkeep.errors import InvalidInput
from agentkeep.models import error_message
from agentkeep.profiles.model import Profile, dotted_paths

SHIPPED = ("default", "kai", "devassist", "agentic", "vromm", "othello")
ROOT_PROFILE = "default"
MAX_DEPTH = 8
SHIPPED_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Keys that describe the file itself: never inherited, never need provenance.
OWN_KEYS = ("name", "version", "extends", "seed")
DESCRIPTIVE_KEYS = (*OWN_KEYS, "schema_version", "title", "description", "compatibility_schema", "provenance")
# TOML has no null: an empty string means "none" for these.
NULLABLE_TEXT = {
    ("seed",),
    ("extends",),
    ("compatibility_schema",),
    ("defaults", "agent_session_type"),
    ("defaults", "ai_provider"),
    ("retention", "schedule"),
}


class ProfileError(InvalidInput):
    """A profile file that cannot be used: one line naming the file, the key and what is wrong."""

    def __init__(self, file: str, key: str | None, problem: str) -> None:
        where = f"{key}: " if key else ""
        super().__init__(f"profile file {file}: {where}{problem}", field=key)
        self.file = file
        self.key = key


@dataclass(frozen=True)
class LoadedProfile:
    profile: Profile
    source: str
    """The shipped name or the file path it was read from."""

    @property
    def content(self) -> dict[str, Any]:
        return canonical_content(self.profile)

    @property
    def sha256(self) -> bytes:
        return content_sha256(self.content)


def canonical_content(profile: Profile) -> dict[str, Any]:
    content: dict[str, Any] = profile.model_dump(mode="json")
    return content


def content_sha256(content: dict[str, Any]) -> bytes:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).digest()


def is_path(spec: str) -> bool:
    return "/" in spec or spec.endswith((".toml", ".json"))


def shipped_file(name: str) -> Any:
    return resources.files("agentkeep.profiles.shipped").joinpath(f"{name}.toml")


def load_profile(spec: str) -> LoadedProfile:
    """The resolved, validated profile ``spec`` names; ProfileError (one line) otherwise."""
    chain: list[str] = []
    profile = _resolve(spec, None, chain)
    return LoadedProfile(profile=profile, source=spec if not is_path(spec) else str(Path(spec).resolve()))


def _resolve(spec: str, relative_to: Path | None, chain: list[str]) -> Profile:
    label, raw, folder = _read(spec, relative_to, chain[-1] if chain else None)
    if label in chain:
        raise ProfileError(chain[0], "extends", f"cycle {' → '.join([*chain, label])}")
    if len(chain) >= MAX_DEPTH:
        raise ProfileError(chain[0], "extends", f"more than {MAX_DEPTH} files deep")
    chain.append(label)
    parent_spec = raw.get("extends") or (None if raw.get("name") == ROOT_PROFILE else ROOT_PROFILE)
    if not isinstance(parent_spec, str | None):
        raise ProfileError(label, "extends", "must be a shipped name or a path")
    if parent_spec is None:
        merged = raw
    else:
        parent = _resolve(parent_spec, folder, chain)
        merged = _merge(parent.model_dump(mode="json"), raw, Profile)
        for key in OWN_KEYS:
            merged[key] = raw.get(key)
    try:
        return Profile.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProfileError(label, _location(first["loc"]) or None, error_message(first)) from None


def _read(spec: str, relative_to: Path | None, child: str | None) -> tuple[str, dict[str, Any], Path | None]:
    """(label for messages, raw mapping with "" as None, folder for relative extends)."""
    if is_path(spec):
        path = Path(spec) if relative_to is None else relative_to / spec
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            if child is not None:
                raise ProfileError(child, "extends", f"cannot read {label}: {exc.strerror}") from None
            raise ProfileError(label, None, f"cannot be read: {exc.strerror}") from None
        folder: Path | None = path.parent
        as_json = path.suffix == ".json"
    else:
        if not SHIPPED_NAME.match(spec) or spec not in SHIPPED:
            problem = f"no shipped profile is named {spec!r} (shipped: {', '.join(SHIPPED)})"
            if child is not None:
                raise ProfileError(child, "extends", problem)
            raise ProfileError(spec, None, problem)
        label = f"{spec}.toml (shipped)"
        text = shipped_file(spec).read_text(encoding="utf-8")
        folder, as_json = None, False
    raw = _parse(label, text, as_json=as_json)
    return label, _nones(raw, ()), folder


def _parse(label: str, text: str, *, as_json: bool) -> dict[str, Any]:
    try:
        raw = json.loads(text) if as_json else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(
            label, None, f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(label, None, f"invalid TOML: {exc}") from None
    if not isinstance(raw, dict):
        raise ProfileError(label, None, "must hold one object (a table of keys)")
    return raw


def _nones(raw: Any, path: tuple[str, ...]) -> Any:
    if isinstance(raw, dict):
        return {key: _nones(value, (*path, key)) for key, value in raw.items()}
    if raw == "" and path in NULLABLE_TEXT:
        return None
    return raw


def _merge(parent: dict[str, Any], child: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Child over parent: sections (sub-models) and provenance key by key, any other value whole."""
    merged = dict(parent)
    for key, value in child.items():
        field = model.model_fields.get(key)
        section = field.annotation if field is not None else None
        if isinstance(section, type) and issubclass(section, BaseModel) and isinstance(value, dict):
            base = parent.get(key)
            merged[key] = _merge(base, value, section) if isinstance(base, dict) else value
        elif key == "provenance" and isinstance(value, dict) and isinstance(parent.get(key), dict):
            merged[key] = parent[key] | value
        else:
            merged[key] = value
    return merged


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _is_union_tag(part):
            text += f".{part}" if text else part
    return text


def _is_union_tag(part: str) -> bool:
    # pydantic names the union member or the constraint that failed inside a location.
    return part.startswith(("function-", "constrained-")) or part in {
        "str",
        "int",
        "none",
        "tuple",
        "is-instance",
    }


def unexplained_keys(raw: dict[str, Any]) -> list[str]:
    """Keys a file sets that no provenance entry of the same file covers (a key covers its children)."""
    provenance = raw.get("provenance") or {}

    def covered(path: str) -> bool:
        return any(path == known or path.startswith(f"{known}.") for known in provenance)

    return [
        path
        for path in _leaf_paths(raw, "")
        if path.split(".", 1)[0] not in DESCRIPTIVE_KEYS and not covered(path)
    ]


def _leaf_paths(value: Any, prefix: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaf_paths(item, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def read_raw(spec: str) -> dict[str, Any]:
    """One file's own keys, unmerged (for provenance checks and documentation)."""
    return _read(spec, None, None)[1]


__all__ = [
    "SHIPPED",
    "LoadedProfile",
    "ProfileError",
    "canonical_content",
    "content_sha256",
    "dotted_paths",
    "load_profile",
    "read_raw",
    "unexplained_keys",
]
