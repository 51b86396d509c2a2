"""Verification of many chains in several processes that share one snapshot.

Checking an entry is mostly hashing in Python, which holds the interpreter lock: one process
checks entries no faster than one core allows, however many connections feed it. So a long
verification is split into contiguous ranges of chains, and each range is read and checked by
a process of its own, on a connection of its own that adopts the coordinator's exported
snapshot (database/snapshots.py): the server reads a range while the process hashes, and every
part sees the same committed state. Each process is ``python -m agentkeep.audit.parallel``
(nothing of the caller's program is imported again, unlike multiprocessing's start methods),
takes its job as JSON on stdin and writes its progress and what it found on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import asyncpg

from agentkeep.audit import stream
from agentkeep.audit.chain import Break, ChainWalker
from agentkeep.database.snapshots import adopt_statement

Progress = Callable[[int], None]
"""Called with the number of entries checked since the last call."""


# The last line names every chain the process saw (36 bytes each and a few): room for millions.
FOUND_LINE_LIMIT = 1 << 28


@dataclass
class Found:
    """What the check of some chains found: entries read, the chains seen, their first breaks."""

    entries: int = 0
    seen: set[str] = field(default_factory=set)
    breaks: list[Break] = field(default_factory=list)

    @classmethod
    def of(cls, walker: ChainWalker) -> Found:
        return cls(walker.entries, walker.seen, walker.breaks)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while the entries stream. Every batch of records outlives a
    few collections and so reaches the oldest generation, whose full collections then walk every
    object of the process again and again (a fifth of the time it took to check an entry).
    Checking makes no reference cycles; collection resumes (if it was on) afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def split_chains(chains: Sequence[tuple[str, int]], parts: int) -> list[tuple[str, str]]:
    """The chains (user, about how many entries) in at most ``parts`` contiguous ranges of users,
    ``(first, last)``, of about equal entries; each chain whole in one range."""
    ordered = sorted(chains)
    total = sum(max(length, 1) for _, length in ordered)
    ranges: list[tuple[str, str]] = []
    done = 0
    for user, length in ordered:
        weight = max(length, 1)
        # The part the chain's middle falls into: every part gets the chains whose middles fall
        # in its share of the entries.
        part = min(parts - 1, (2 * done + weight) * parts // (2 * total))
        if len(ranges) <= part:
            ranges.append((user, user))
        else:
            ranges[-1] = (ranges[-1][0], user)
        done += weight
    return ranges


async def check_range(
    driver: asyncpg.Connection[Any],
    between: tuple[str, str] | None,
    heads: Mapping[str, tuple[int, bytes]],
    saved: Mapping[str, Mapping[int, bytes]],
    progress: Progress | None,
    user_id: Any = None,
) -> Found:
    """Stream and check the chains from ``between[0]`` to ``between[1]``, or ``user_id``'s, or
    (both None) all of them, on this connection, in its transaction."""
    walker = ChainWalker(heads, saved)
    async for batch in stream.stream_entries(driver, user_id, between=between):
        walker.feed(batch)
        if progress is not None:
            progress(len(batch))
    walker.finish()
    return Found.of(walker)


@dataclass(frozen=True)
class RangeJob:
    """What a process needs to check one range of chains."""

    dsn: str
    snapshot_id: str
    settings: tuple[str, ...]
    between: tuple[str, str]
    heads: Mapping[str, tuple[int, bytes]]
    saved: Mapping[str, Mapping[int, bytes]]

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "dsn": self.dsn,
                "snapshot_id": self.snapshot_id,
                "settings": list(self.settings),
                "between": list(self.between),
                "heads": {user: [seq, digest.hex()] for user, (seq, digest) in self.heads.items()},
                "saved": {
                    user: {str(seq): digest.hex() for seq, digest in heads.items()}
                    for user, heads in self.saved.items()
                },
            }
        ).encode()

    @classmethod
    def from_json(cls, text: bytes) -> RangeJob:
        job = json.loads(text)
        return cls(
            dsn=job["dsn"],
            snapshot_id=job["snapshot_id"],
            settings=tuple(job["settings"]),
            between=(job["between"][0], job["between"][1]),
            heads={user: (seq, bytes.fromhex(digest)) for user, (seq, digest) in job["heads"].items()},
            saved={
                user: {int(seq): bytes.fromhex(digest) for seq, digest in heads.items()}
                for user, heads in job["saved"].items()
            },
        )


def _found_json(found: Found) -> str:
    breaks = [[broken.user_id, broken.seq, broken.problem] for broken in found.breaks]
    return json.dumps({"entries": found.entries, "seen": sorted(found.seen), "breaks": breaks})


def _found_of_json(text: str) -> Found:
    found = json.loads(text)
    breaks = [Break(user, seq, problem) for user, seq, problem in found["breaks"]]
    return Found(found["entries"], set(found["seen"]), breaks)


async def _run_job(job: RangeJob, out: TextIO) -> None:
    """Check the job's range on a connection that adopts its snapshot, writing to ``out`` one
    ``progress N`` line per batch and a last ``found {json}`` line."""

    def counted(entries: int) -> None:
        out.write(f"progress {entries}\n")
        out.flush()

    conn: asyncpg.Connection[Any] = await asyncpg.connect(job.dsn)
    try:
        await conn.execute(adopt_statement(job.snapshot_id, job.settings))
        found = await check_range(conn, job.between, job.heads, job.saved, counted)
    finally:
        conn.terminate()  # a read-only transaction: nothing to end cleanly
    out.write(f"found {_found_json(found)}\n")
    out.flush()


def main() -> int:
    """``python -m agentkeep.audit.parallel``: one range, the job as JSON on stdin (it holds the
    connection's password, so never on the command line)."""
    gc.disable()  # this process only streams and hashes (see paused_gc)
    job = RangeJob.from_json(sys.stdin.buffer.read())
    asyncio.run(_run_job(job, sys.stdout))
    return 0


async def _follow(job: RangeJob, progress: Progress | None) -> Found:
    """Start the job's process, pass its progress on, and return what it found."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=FOUND_LINE_LIMIT,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        process.stdin.write(job.to_json())
        await process.stdin.drain()
        process.stdin.close()
        errors = asyncio.ensure_future(process.stderr.read())
        found: Found | None = None
        async for line in process.stdout:
            kind, _, value = line.decode().partition(" ")
            if kind == "progress" and progress is not None:
                progress(int(value))
            elif kind == "found":
                found = _found_of_json(value)
        await process.wait()
        error = (await errors).decode().strip().splitlines()
        if found is None or process.returncode != 0:
            last = error[-1] if error else f"exit status {process.returncode}"
            raise RuntimeError(
                f"audit verification of chains {job.between[0]} to {job.between[1]} failed: {last}"
            )
        return found
    finally:
        if process.returncode is None:
            process.kill()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()


async def check_in_processes(jobs: Sequence[RangeJob], progress: Progress | None) -> list[Found]:
    """Each job in a process of its own, all at once; what each found, in the jobs' order. The
    first failure is raised as it is, and stops the other processes."""
    tasks = [asyncio.ensure_future(_follow(job, progress)) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()  # nothing once done; else its process is killed
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    sys.exit(main())
