"""Master key providers: what wraps and unwraps the users' data keys (docs/vault.md).

A provider is shaped for a cloud KMS: agentkeep hands it a data key and a context and gets
back an opaque wrapped blob (AWS KMS Encrypt/Decrypt with an encryption context, Google Cloud
KMS with additional authenticated data, Vault transit with a context), and never sees the
master key itself. :class:`LocalMasterKey` is the one shipped: the master key in this process,
from ``AGENTKEEP_MASTER_KEY``, from ``AGENTKEEP_MASTER_KEY_FILE``, or from ``master.key`` in the
data folder, generated there on first use, readable by its owner only.

Nothing here ever logs, prints or puts a key in an error message; reprs hide the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentkeep.errors import ConfigurationError
from agentkeep.vault.cipher import KEY_BYTES, NONCE_BYTES


class MasterKeyError(ConfigurationError):
    """A master key that is missing, malformed, unsafe on disk, or not the one the vault uses."""


class MasterKeyMismatch(MasterKeyError):
    """The key given cannot unwrap what the vault holds."""


class MasterKeyProvider(Protocol):
    """Wraps and unwraps data keys. A KMS-backed provider implements the same four members."""

    @property
    def key_id(self) -> str:
        """Which master key this is (a KMS key id or ARN; ``"local"`` for a local key). Stored
        beside every wrapped key; a provider's next key version gets a new vault master version."""
        ...

    @property
    def source(self) -> str:
        """Where the key comes from, for error messages (a variable or file name, a KMS key id)."""
        ...

    async def open(self, *, first_use: bool) -> None:
        """Get ready (read the key, reach the KMS). ``first_use``: the vault has no master key
        yet, so a provider may make one (the default key file is generated then)."""
        ...

    async def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt ``plaintext`` (a data key) bound to ``context``."""
        ...

    async def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The plaintext :meth:`wrap` was given, or :class:`MasterKeyMismatch`."""
        ...


def decode_key(text: str, source: str) -> bytes:
    """A master key from its base64 text (32 bytes), or one line naming ``source``."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{source}: not base64 (a master key is base64 of 32 random bytes)") from None
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{source}: a master key is 32 bytes, base64; this is {len(key)} bytes")
    return key


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def read_key_file(path: Path, source: str) -> bytes:
    """The key in ``path``; refused if anyone but its owner may read or write it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise MasterKeyError(f"{source}: {path} does not exist") from None
    except OSError as exc:
        raise MasterKeyError(f"{source}: cannot read {path}: {exc.strerror}") from None
    if status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"{source}: {path} may be read by others (mode {stat.S_IMODE(status.st_mode):04o}): "
            f"run `chmod 600 {path}` (and consider the key exposed)"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise MasterKeyError(f"{source}: cannot read {path}: {reason}") from None
    return decode_key(text, f"{source} ({path})")


def write_key_file(path: Path, key: bytes) -> None:
    """Write a new key file, owner-only from its first byte; never overwrites one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (encode_key(key) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalMasterKey:
    """A master key held in this process; wraps with AES-256-GCM (nonce || ciphertext || tag)."""

    key_id = "local"

    def __init__(self, source: str, load: Callable[[bool], bytes]) -> None:
        self.source = source
        self._load = load
        self._key: bytes | None = None

    def __repr__(self) -> str:
        return f"LocalMasterKey(source={self.source!r})"

    @classmethod
    def from_key(cls, key: bytes, source: str = "the given master key") -> LocalMasterKey:
        if len(key) != KEY_BYTES:
            raise MasterKeyError(f"{source}: a master key is 32 bytes")
        return cls(source, lambda _first_use: key)

    @classmethod
    def from_text(cls, text: str, source: str = "AGENTKEEP_MASTER_KEY") -> LocalMasterKey:
        return cls(source, lambda _first_use: decode_key(text, source))

    @classmethod
    def from_file(
        cls, path: Path, *, source: str = "AGENTKEEP_MASTER_KEY_FILE", create: bool = False
    ) -> LocalMasterKey:
        """The key in ``path``. ``create``: generate it there on the vault's first use."""

        def load(first_use: bool) -> bytes:
            if create and first_use and not path.exists():
                with contextlib.suppress(FileExistsError):  # another process made it first
                    write_key_file(path, new_key())
            return read_key_file(path, source)

        return cls(source, load)

    async def open(self, *, first_use: bool) -> None:
        if self._key is None:
            self._key = self._load(first_use)

    def _aead(self) -> AESGCM:
        if self._key is None:
            raise MasterKeyError(f"{self.source}: the master key was not opened")
        return AESGCM(self._key)

    async def wrap(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead().encrypt(nonce, plaintext, context)

    async def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._aead().decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except (InvalidTag, ValueError):
            raise MasterKeyMismatch(f"{self.source}: not the master key this was wrapped with") from None


def provider_from_settings(
    master_key: str | None, master_key_file: Path | None, default_file: Path
) -> LocalMasterKey:
    """AGENTKEEP_MASTER_KEY, else AGENTKEEP_MASTER_KEY_FILE, else the data folder's master.key
    (generated on the vault's first use)."""
    if master_key is not None:
        return LocalMasterKey.from_text(master_key)
    if master_key_file is not None:
        return LocalMasterKey.from_file(master_key_file.expanduser())
    return LocalMasterKey.from_file(default_file, source="the default master key file", create=True)
