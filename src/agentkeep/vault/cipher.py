"""The one encryption primitive: AES-256-GCM (the ``cryptography`` package), a fresh 96-bit
nonce per value, associated data binding the value to where it lives (docs/vault.md).

A sealed value is stored as one ``bytea`` envelope::

    byte 0        format (1)
    bytes 1..4    key version, unsigned big-endian
    bytes 5..16   nonce (12 bytes)
    bytes 17..-17 ciphertext (as long as the plaintext)
    last 16       GCM tag

The associated data (not stored: recomputed from where the value is read) is::

    b"agentkeep.vault.v1" || user_id (16 bytes) || key_version (4 bytes, big-endian)
    || len(table) (2 bytes) || table || len(column) (2 bytes) || column
    || len(row_id) (4 bytes) || row_id                 (texts in UTF-8)

Length prefixes make the encoding unambiguous: no two bindings give the same bytes. A value
copied to another user, table, column, row or key version fails its tag check.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentkeep.errors import AgentkeepError

ALGORITHM = "aes-256-gcm"
FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">BI")  # format, key version
ENVELOPE_OVERHEAD = _HEADER.size + NONCE_BYTES + TAG_BYTES
_AD_PREFIX = b"agentkeep.vault.v1"
MAX_KEY_VERSION = 2**31 - 1  # stored in an INTEGER column


class DecryptionError(AgentkeepError):
    """A value that cannot be opened: tampered with, moved, or under a key no longer held.

    The message names only where the value was read from, never the plaintext or a key.
    """

    status_code = 500
    title = "Cannot decrypt"


@dataclass(frozen=True)
class Binding:
    """Where a value lives: sealing and opening must name the same place."""

    user_id: uuid.UUID
    table: str
    column: str
    row_id: str
    key_version: int

    def associated_data(self) -> bytes:
        table = self.table.encode()
        column = self.column.encode()
        row_id = self.row_id.encode()
        if not 0 < self.key_version <= MAX_KEY_VERSION:
            raise ValueError(f"key version out of range: {self.key_version}")
        return b"".join(
            (
                _AD_PREFIX,
                self.user_id.bytes,
                struct.pack(">I", self.key_version),
                struct.pack(">H", len(table)),
                table,
                struct.pack(">H", len(column)),
                column,
                struct.pack(">I", len(row_id)),
                row_id,
            )
        )

    def where(self) -> str:
        """For error messages: the place, never the content."""
        return f"{self.table}.{self.column} of row {self.row_id} (key version {self.key_version})"


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    tag: bytes
    key_version: int

    def to_envelope(self) -> bytes:
        return _HEADER.pack(FORMAT, self.key_version) + self.nonce + self.ciphertext + self.tag

    @classmethod
    def from_envelope(cls, data: bytes) -> Sealed:
        if len(data) < ENVELOPE_OVERHEAD:
            raise DecryptionError("not a vault envelope: too short")
        form, key_version = _HEADER.unpack_from(data)
        if form != FORMAT:
            raise DecryptionError(f"not a vault envelope: unknown format {form}")
        nonce_end = _HEADER.size + NONCE_BYTES
        return cls(
            nonce=bytes(data[_HEADER.size : nonce_end]),
            ciphertext=bytes(data[nonce_end:-TAG_BYTES]),
            tag=bytes(data[-TAG_BYTES:]),
            key_version=key_version,
        )


def envelope_key_version(data: bytes) -> int:
    """The key version an envelope says it was sealed under (not authenticated until opened)."""
    return Sealed.from_envelope(data).key_version


def _check_key(key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ValueError("an AES-256 key is 32 bytes")


def seal(key: bytes, plaintext: bytes, binding: Binding) -> Sealed:
    """Encrypt ``plaintext`` for ``binding`` under ``key`` (the data key of binding.key_version)."""
    _check_key(key)
    nonce = os.urandom(NONCE_BYTES)
    out = AESGCM(key).encrypt(nonce, plaintext, binding.associated_data())
    return Sealed(
        nonce=nonce, ciphertext=out[:-TAG_BYTES], tag=out[-TAG_BYTES:], key_version=binding.key_version
    )


def unseal(key: bytes, sealed: Sealed, binding: Binding) -> bytes:
    """The plaintext, or DecryptionError if anything (value, nonce, tag, place, key) differs."""
    _check_key(key)
    if sealed.key_version != binding.key_version or len(sealed.nonce) != NONCE_BYTES:
        raise DecryptionError(f"cannot decrypt {binding.where()}: the value was sealed elsewhere")
    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext + sealed.tag, binding.associated_data())
    except InvalidTag:
        raise DecryptionError(
            f"cannot decrypt {binding.where()}: altered, moved from elsewhere, or another key"
        ) from None
