"""The canonical encoding of an audit entry and the checks of one chain (docs/audit.md).

The repository's query lays out each entry's header and payload bytes from the stored columns
(docs/audit.md, "Canonical encoding"); here they, the row image and the record key are hashed with
hashlib and compared with the stored hashes, and the links of the chain are followed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

VERSION = b"agentkeep-audit-v1"
GENESIS = bytes(32)

# The columns the repository streams, in this order (see stream.ENTRY_STREAM): the header
# arrives as the exact bytes docs/audit.md defines, laid out by the query from the stored
# columns; the payload as the bytes before new_values' text, that text, and the bytes after it
# (the row hash is that text's hash); so this side only hashes and compares.
(
    USER_ID,
    SEQ,
    PREV_HASH,
    ENTRY_HASH,
    HEADER,
    PAYLOAD_HASH,
    PAYLOAD_BEFORE_ROW,
    ROW_TEXT,
    PAYLOAD_AFTER_ROW,
    ROW_HASHED,
    ROW_HASH,
    RECORD_TEXT,
    RECORD_KEY_HASH,
) = range(13)
PAYLOAD_PROBLEM = "payload differs from its payload_hash (values, record_id, ip or user agent changed)"
CONTENT_PROBLEMS = {
    "row": "new_values differ from the row_hash",
    "key": "record_id differs from the record_key_hash",
}


def field(value: str | None) -> bytes:
    """'-' for NULL, else the UTF-8 length, ':' and the UTF-8 bytes (no separator can be forged)."""
    if value is None:
        return b"-"
    encoded = value.encode()
    return b"%d:%s" % (len(encoded), encoded)


@dataclass(frozen=True)
class Break:
    """The first broken link of a chain: whose, at which sequence number, and what differs."""

    user_id: str
    seq: int | None
    problem: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "head"
        return f"chain {self.user_id} {where}: {self.problem}"


class ChainChecker:
    """Feeds one chain's entries in seq order; remembers the first broken link."""

    __slots__ = ("broken", "expected_hash", "expected_seq", "saved", "user_id")

    def __init__(self, user_id: str, saved: Mapping[int, bytes] | None = None) -> None:
        self.user_id = user_id
        self.expected_seq = 1
        self.expected_hash = GENESIS
        self.broken: Break | None = None
        # seq -> hash of a head saved earlier (verify --against): the chain must still hold it.
        self.saved = dict(saved or {})

    def feed(self, entry: Sequence[Any]) -> None:
        if self.broken is not None:
            return
        seq = entry[SEQ]
        problem = self._problem(entry, seq)
        if problem is not None:
            self.broken = Break(self.user_id, min(seq, self.expected_seq), problem)
            return
        self.expected_seq = seq + 1
        self.expected_hash = entry[ENTRY_HASH]

    def _problem(self, entry: Sequence[Any], seq: int) -> str | None:
        if seq != self.expected_seq:
            return f"entry missing: seq {self.expected_seq} expected, next entry has seq {seq}"
        if entry[PREV_HASH] != self.expected_hash:
            return "prev_hash differs from the previous entry's hash (entry removed, moved or replaced)"
        before_row = entry[PAYLOAD_BEFORE_ROW]  # None once redacted: its hashes stay in the header
        if before_row is not None:
            row = entry[ROW_TEXT]
            payload = sha256(before_row)
            if row is not None:
                payload.update(row)
            payload.update(entry[PAYLOAD_AFTER_ROW])
            if payload.digest() != entry[PAYLOAD_HASH]:
                return PAYLOAD_PROBLEM
            if entry[ROW_HASHED] and sha256(row or b"").digest() != entry[ROW_HASH]:
                return CONTENT_PROBLEMS["row"]
            record = entry[RECORD_TEXT]
            if record is not None and sha256(record).digest() != entry[RECORD_KEY_HASH]:
                return CONTENT_PROBLEMS["key"]
        if sha256(entry[HEADER]).digest() != entry[ENTRY_HASH]:
            return "entry_hash differs from the hash of the entry's header (a header column changed)"
        if self.saved:
            saved = self.saved.pop(seq, None)
            if saved is not None and saved != entry[ENTRY_HASH]:
                return "entry differs from the saved head at this seq (history rewritten)"
        return None

    def finish(self, head: tuple[int, bytes] | None) -> Break | None:
        """After the last entry: the head row and the saved heads must agree with the chain's end."""
        if self.broken is not None:
            return self.broken
        last_seq = self.expected_seq - 1
        if self.saved:
            behind = min(self.saved)
            return Break(
                self.user_id,
                behind,
                f"chain ends at seq {last_seq}, before the saved head at seq {max(self.saved)}"
                " (rolled back or truncated)",
            )
        if head is None:
            return Break(self.user_id, None, "chain has entries but no head row")
        if head[0] > last_seq:
            return Break(
                self.user_id,
                last_seq + 1,
                f"entry missing: the head row says seq {head[0]}, the chain ends at {last_seq}",
            )
        if head != (last_seq, self.expected_hash):
            return Break(
                self.user_id, None, f"head row (seq {head[0]}) differs from the chain's end (seq {last_seq})"
            )
        return None


class ChainWalker:
    """Checks whole chains streamed in (user_id, seq) order, a batch at a time.

    The same checks as :class:`ChainChecker` (which names what differs), in one loop over the
    batch with the chain's state in local variables: verification's time is this loop, so an
    entry that checks out costs its four hashes and no call of ours. At the first entry that
    fails a check, the chain's :class:`ChainChecker` says what differs and keeps the break; the
    rest of that chain is skipped. Chains with saved heads (verify --against) go through
    ChainChecker entry by entry.
    """

    def __init__(
        self, heads: Mapping[str, tuple[int, bytes]], saved: Mapping[str, Mapping[int, bytes]]
    ) -> None:
        self.heads = heads
        self.saved = saved
        self.entries = 0
        self.seen: set[str] = set()
        self.breaks: list[Break] = []
        self._checker: ChainChecker | None = None  # the chain being read, across batches

    def feed(self, batch: Sequence[Any]) -> None:
        # No chain yet: a stand-in that no entry's user equals, so the first entry starts one.
        checker = self._checker or ChainChecker("")
        user: str | None = checker.user_id if self._checker is not None else None
        # The chain's state while it checks out; written back to its checker when it ends, when
        # an entry fails (the checker takes over) and when the batch ends.
        fast = checker.broken is None and not checker.saved
        expected_seq, expected_hash = checker.expected_seq, checker.expected_hash
        for entry in batch:
            (entry_user, seq, prev, digest, header, payload_hash, before_row, row, after_row,
             row_hashed, row_hash, record, key_hash) = entry  # fmt: skip
            if entry_user != user:
                if user is not None:
                    if fast:
                        checker.expected_seq, checker.expected_hash = expected_seq, expected_hash
                    self._end(checker)
                user = entry_user
                checker = self._checker = ChainChecker(entry_user, self.saved.get(entry_user))
                self.seen.add(entry_user)
                fast = not checker.saved
                expected_seq, expected_hash = 1, GENESIS
            if not fast:
                checker.feed(entry)  # does nothing once the chain is broken
                continue
            if seq == expected_seq and prev == expected_hash and sha256(header).digest() == digest:
                if before_row is None:  # redacted: its hashes stay in the header
                    expected_seq = seq + 1
                    expected_hash = digest
                    continue
                payload = sha256(before_row)
                if row is not None:
                    payload.update(row)
                payload.update(after_row)
                if (
                    payload.digest() == payload_hash
                    and (not row_hashed or sha256(row or b"").digest() == row_hash)
                    and (record is None or sha256(record).digest() == key_hash)
                ):
                    expected_seq = seq + 1
                    expected_hash = digest
                    continue
            # Something differs: the checker names it and keeps the chain's first break.
            checker.expected_seq, checker.expected_hash = expected_seq, expected_hash
            checker.feed(entry)
            fast = False
        if fast and user is not None:
            checker.expected_seq, checker.expected_hash = expected_seq, expected_hash
        self.entries += len(batch)

    def _end(self, checker: ChainChecker) -> None:
        broken = checker.finish(self.heads.get(checker.user_id))
        if broken is not None:
            self.breaks.append(broken)

    def finish(self) -> None:
        """After the last batch: the last chain's end against its head row and saved heads."""
        if self._checker is not None:
            self._end(self._checker)
            self._checker = None
