"""Secrets at rest: keyed token hashes and AES-GCM sealing bound to a row."""

from __future__ import annotations

import pytest

from wcx.api.auth.crypto import Sealer, new_token, token_hash


def test_token_hashes_depend_on_key_and_purpose() -> None:
    token = new_token()
    assert token_hash(b"k", "refresh", token) == token_hash(b"k", "refresh", token)
    assert token_hash(b"k", "refresh", token) != token_hash(b"other", "refresh", token)
    assert token_hash(b"k", "refresh", token) != token_hash(b"k", "email", token)
    assert len(token_hash(b"k", "refresh", token)) == 64 and new_token() != token


def test_sealed_secrets_open_only_with_the_same_key_and_row() -> None:
    sealer = Sealer(b"server secret")
    sealed = sealer.seal(b"hmac secret", "api-key:abc")
    assert b"hmac secret" not in sealed.encode() and sealed != sealer.seal(b"hmac secret", "api-key:abc")
    assert sealer.open(sealed, "api-key:abc") == b"hmac secret"
    with pytest.raises(ValueError, match="authenticate"):
        sealer.open(sealed, "api-key:other-row")
    with pytest.raises(ValueError, match="authenticate"):
        Sealer(b"another secret").open(sealed, "api-key:abc")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(ValueError, match="authenticate"):
        sealer.open(flipped, "api-key:abc")


def test_a_totp_secret_fits_its_column() -> None:
    assert len(Sealer(b"s").seal(bytes(20), "totp:1")) == 64
