"""Master key sources (docs/vault.md): the variable, a key file, the data folder's default one;
a wrong or missing key is one line at start, never silent garbage."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkeep.keep import Keep
from agentkeep.settings import load_settings
from agentkeep.vault.master import LocalMasterKey, MasterKeyError, MasterKeyMismatch, write_key_file


@pytest.fixture
def folder() -> Iterator[Path]:
    # A short path keeps the embedded server's socket path under the 107-byte limit.
    path = Path(tempfile.mkdtemp(prefix="akvlt", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_key_file_readable_by_others_is_refused(folder: Path) -> None:
    path = folder / "key"
    write_key_file(path, os.urandom(32))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match=r"may be read by others \(mode 0644\): run `chmod 600"):
        await LocalMasterKey.from_file(path).open(first_use=False)
    path.chmod(0o600)
    await LocalMasterKey.from_file(path).open(first_use=False)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "this is 5 bytes")],
)
async def test_malformed_keys_are_one_line(text: str, problem: str) -> None:
    with pytest.raises(MasterKeyError, match=problem) as caught:
        await LocalMasterKey.from_text(text).open(first_use=False)
    assert str(caught.value).startswith("AGENTKEEP_MASTER_KEY: ") and "\n" not in str(caught.value)
    assert text not in str(caught.value)


async def test_a_missing_key_file_is_never_made_unless_the_vault_is_new(folder: Path) -> None:
    path = folder / "sub" / "master.key"
    with pytest.raises(MasterKeyError, match="does not exist"):
        await LocalMasterKey.from_file(path, create=True).open(first_use=False)
    assert not path.exists()
    made = LocalMasterKey.from_file(path, create=True)
    await made.open(first_use=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    wrapped = await made.wrap(b"k" * 32, b"context")
    assert await made.unwrap(wrapped, b"context") == b"k" * 32
    with pytest.raises(MasterKeyMismatch):
        await made.unwrap(wrapped, b"another context")
    assert "master.key" in repr(made) or "default" in repr(made) or "FILE" in repr(made)


@pytest.mark.no_citus("starts an embedded server of its own")
async def test_the_embedded_default_key_is_made_once_and_checked_at_every_start(folder: Path) -> None:
    settings = load_settings(data_dir=folder, master_key=None, master_key_file=None)
    async with await Keep.connect(settings):
        pass
    key_file = folder / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    made = key_file.read_text()
    async with await Keep.connect(settings):
        pass
    assert key_file.read_text() == made  # made once

    wrong = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(MasterKeyError) as caught:
        await Keep.connect(load_settings(data_dir=folder, master_key=wrong))
    assert str(caught.value).startswith(
        "AGENTKEEP_MASTER_KEY is not the vault's master key (master version 1"
    )
    assert wrong not in str(caught.value) and made.strip() not in str(caught.value)

    elsewhere = folder / "kept-safe.key"
    key_file.rename(elsewhere)
    with pytest.raises(MasterKeyError, match=r"the default master key file: .*master\.key does not exist"):
        await Keep.connect(settings)
    assert not key_file.exists()  # not replaced by a new key: the vault would be unreadable
    async with await Keep.connect(load_settings(data_dir=folder, master_key=None, master_key_file=elsewhere)):
        pass
