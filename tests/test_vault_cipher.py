"""The one primitive (docs/vault.md): AES-256-GCM, a fresh nonce per value, the value bound to
its user, table, column, row and key version. No database needed."""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest

from agentkeep.vault import cipher
from agentkeep.vault.cipher import Binding, DecryptionError, Sealed

KEY = os.urandom(32)
USER = uuid.uuid4()
BINDING = Binding(USER, "decisions", "decision_ciphertext", str(uuid.uuid4()), 1)
PLAINTEXT = b'{"ticker": "NVDA", "decision": "hold", "canary": "c4n4ry-plain"}'


def test_round_trip_and_envelope_layout() -> None:
    sealed = cipher.seal(KEY, PLAINTEXT, BINDING)
    envelope = sealed.to_envelope()
    assert envelope[0] == cipher.FORMAT
    assert int.from_bytes(envelope[1:5], "big") == 1
    assert envelope[5:17] == sealed.nonce and len(sealed.nonce) == 12
    assert envelope[-16:] == sealed.tag
    assert len(envelope) == len(PLAINTEXT) + cipher.ENVELOPE_OVERHEAD
    assert PLAINTEXT not in envelope
    assert cipher.unseal(KEY, Sealed.from_envelope(envelope), BINDING) == PLAINTEXT
    assert cipher.unseal(KEY, sealed, BINDING) == PLAINTEXT


def test_every_value_gets_a_fresh_nonce() -> None:
    nonces = {cipher.seal(KEY, PLAINTEXT, BINDING).nonce for _ in range(1000)}
    assert len(nonces) == 1000
    assert cipher.seal(KEY, b"", BINDING).ciphertext == b""


def test_flipping_any_byte_of_the_envelope_fails() -> None:
    envelope = cipher.seal(KEY, PLAINTEXT, BINDING).to_envelope()
    for position in range(len(envelope)):
        tampered = bytearray(envelope)
        tampered[position] ^= 0x01
        with pytest.raises(DecryptionError) as caught:
            cipher.unseal(KEY, Sealed.from_envelope(bytes(tampered)), BINDING)
        assert "c4n4ry" not in str(caught.value)


def test_flipping_ciphertext_nonce_or_tag_fails() -> None:
    sealed = cipher.seal(KEY, PLAINTEXT, BINDING)
    for part in ("nonce", "ciphertext", "tag"):
        value = bytearray(getattr(sealed, part))
        value[len(value) // 2] ^= 0x80
        with pytest.raises(DecryptionError):
            cipher.unseal(KEY, dataclasses.replace(sealed, **{part: bytes(value)}), BINDING)


@pytest.mark.parametrize(
    "moved",
    [
        {"user_id": uuid.uuid4()},
        {"table": "messages"},
        {"column": "debate_ciphertext"},
        {"row_id": str(uuid.uuid4())},
        {"key_version": 2},
    ],
    ids=["another user", "another table", "another column", "another row", "another key version"],
)
def test_a_value_copied_elsewhere_does_not_open(moved: dict[str, object]) -> None:
    sealed = cipher.seal(KEY, PLAINTEXT, BINDING)
    with pytest.raises(DecryptionError):
        cipher.unseal(KEY, sealed, dataclasses.replace(BINDING, **moved))  # type: ignore[arg-type]


def test_another_key_does_not_open() -> None:
    sealed = cipher.seal(KEY, PLAINTEXT, BINDING)
    with pytest.raises(DecryptionError):
        cipher.unseal(os.urandom(32), sealed, BINDING)


def test_associated_data_is_unambiguous() -> None:
    # Shifting text between table, column and row id never gives the same bytes.
    a = Binding(USER, "ab", "c", "d", 1).associated_data()
    b = Binding(USER, "a", "bc", "d", 1).associated_data()
    c = Binding(USER, "a", "b", "cd", 1).associated_data()
    assert len({a, b, c}) == 3


def test_envelopes_that_are_not_envelopes_are_refused() -> None:
    with pytest.raises(DecryptionError, match="too short"):
        Sealed.from_envelope(b"\x01\x00")
    envelope = bytearray(cipher.seal(KEY, PLAINTEXT, BINDING).to_envelope())
    envelope[0] = 9
    with pytest.raises(DecryptionError, match="unknown format"):
        Sealed.from_envelope(bytes(envelope))


def test_reprs_show_no_plaintext_or_key() -> None:
    sealed = cipher.seal(KEY, PLAINTEXT, BINDING)
    assert sealed.ciphertext.hex() not in repr(sealed)
