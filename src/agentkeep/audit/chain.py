"""The canonical encoding of an audit entry and the checks of one chain (docs/audit.md).

Pure Python over the rows the repository streams: the hashes the database wrote are recomputed
here with hashlib and compared; nothing is trusted but the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

VERSION = b"agentkeep-audit-v1"
GENESIS = bytes(32)

# The columns the repository streams, in this order (see repository.ENTRY_STREAM).
(
    USER_ID,
    SEQ,
    ENTRY_ID,
    OCCURRED_US,
    TABLE_NAME,
    RECORD_KEY_HASH,
    OPERATION,
    ACTOR,
    ACTING_USER_ID,
    CORRELATION_ID,
    ACTION_TYPE,
    RISK_LEVEL,
    AGENT_ID,
    SESSION_ID,
    PAYLOAD_HASH,
    ROW_HASH,
    PREV_HASH,
    ENTRY_HASH,
    REDACTED,
    RECORD_TEXT,
    OLD_TEXT,
    NEW_TEXT,
    IP_TEXT,
    USER_AGENT,
) = range(24)
ROW_IMAGES = frozenset(("INSERT", "UPDATE", "BASELINE"))


def field(value: str | None) -> bytes:
    """'-' for NULL, else the UTF-8 length, ':' and the UTF-8 bytes (no separator can be forged)."""
    if value is None:
        return b"-"
    encoded = value.encode()
    return b"%d:%s" % (len(encoded), encoded)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _text_field(value: str | None) -> str:
    return "-" if value is None else f"{len(value)}:{value}"


def header(entry: Sequence[Any]) -> bytes:
    """The bytes whose SHA-256 is the entry's hash (docs/audit.md, "Header")."""
    # Written out field by field: this runs once per entry and verify must do 100,000 a second.
    user_id, entry_id, seq, micros = entry[USER_ID], entry[ENTRY_ID], str(entry[SEQ]), str(entry[OCCURRED_US])
    payload_hash, prev_hash = entry[PAYLOAD_HASH].hex(), entry[PREV_HASH].hex()
    key_hash, row_hash = entry[RECORD_KEY_HASH], entry[ROW_HASH]
    operation, actor = entry[OPERATION], entry[ACTOR]
    text = (
        f"agentkeep-audit-v1{len(user_id)}:{user_id}{len(seq)}:{seq}{len(entry_id)}:{entry_id}"
        f"{len(micros)}:{micros}{_text_field(entry[TABLE_NAME])}"
        f"{'-' if key_hash is None else '64:' + key_hash.hex()}"
        f"{len(operation)}:{operation}{len(actor)}:{actor}{_text_field(entry[ACTING_USER_ID])}"
        f"{_text_field(entry[CORRELATION_ID])}{_text_field(entry[ACTION_TYPE])}{_text_field(entry[RISK_LEVEL])}"
        f"{_text_field(entry[AGENT_ID])}{_text_field(entry[SESSION_ID])}{len(payload_hash)}:{payload_hash}"
        f"{'-' if row_hash is None else '64:' + row_hash.hex()}{len(prev_hash)}:{prev_hash}"
    )
    # In ASCII text a character is a byte, so the lengths above are byte lengths.
    if text.isascii():
        return text.encode()
    return VERSION + b"".join(
        field(value)
        for value in (
            user_id,
            seq,
            entry_id,
            micros,
            entry[TABLE_NAME],
            _hex(key_hash),
            operation,
            actor,
            entry[ACTING_USER_ID],
            entry[CORRELATION_ID],
            entry[ACTION_TYPE],
            entry[RISK_LEVEL],
            entry[AGENT_ID],
            entry[SESSION_ID],
            payload_hash,
            _hex(row_hash),
            prev_hash,
        )
    )


def payload(entry: Sequence[Any]) -> bytes:
    """The bytes whose SHA-256 is the payload hash (the fields redaction removes)."""
    text = (
        f"{_text_field(entry[RECORD_TEXT])}{_text_field(entry[OLD_TEXT])}{_text_field(entry[NEW_TEXT])}"
        f"{_text_field(entry[IP_TEXT])}{_text_field(entry[USER_AGENT])}"
    )
    if text.isascii():
        return text.encode()
    return b"".join(field(entry[index]) for index in (RECORD_TEXT, OLD_TEXT, NEW_TEXT, IP_TEXT, USER_AGENT))


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
        if not entry[REDACTED]:
            if sha256(payload(entry)).digest() != entry[PAYLOAD_HASH]:
                return "payload differs from its payload_hash (values, record_id, ip or user agent changed)"
            if (
                entry[OPERATION] in ROW_IMAGES
                and sha256((entry[NEW_TEXT] or "").encode()).digest() != entry[ROW_HASH]
            ):
                return "new_values differ from the row_hash"
            record = entry[RECORD_TEXT]
            if record is not None and sha256(record.encode()).digest() != entry[RECORD_KEY_HASH]:
                return "record_id differs from the record_key_hash"
        if sha256(header(entry)).digest() != entry[ENTRY_HASH]:
            return "entry_hash differs from the hash of the entry's header (a header column changed)"
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
