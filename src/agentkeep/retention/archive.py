"""Archive files: gzip-compressed JSON Lines, one per (table, month), and a manifest per run.

Each file is written under a temporary name, fsynced, renamed and its folder fsynced, so a file
with its final name is complete on disk before the rows it holds are deleted. The gzip header
carries no time and no name: the same rows give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ArchiveFile:
    table: str
    month: str  # YYYY-MM of the rows' age column
    path: Path
    rows: int
    sha256: str


def file_name(table: str, month: str) -> str:
    return f"{table}-{month}.jsonl.gz"


def write_rows(folder: Path, table: str, month: str, lines: Iterable[str]) -> ArchiveFile:
    """Write one archive file (each line one row's JSON) durably; return its count and SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / file_name(table, month)
    partial = final.with_name(final.name + ".partial")
    count = 0
    with partial.open("wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
            for line in lines:
                zipped.write(line.encode() + b"\n")
                count += 1
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    _fsync_folder(folder)
    return ArchiveFile(table=table, month=month, path=final, rows=count, sha256=sha256_of(final))


def write_manifest(folder: Path, document: dict[str, Any]) -> tuple[Path, str]:
    """The run's manifest (JSON, sorted keys), written like the archives; returns path and SHA-256."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / MANIFEST
    partial = final.with_name(MANIFEST + ".partial")
    with partial.open("wb") as raw:
        raw.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, final)
    _fsync_folder(folder)
    return final, sha256_of(final)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an archive file, in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
