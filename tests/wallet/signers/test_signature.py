"""The Signature value: low-s, recovery id, encodings, Ethereum v."""

from __future__ import annotations

import hashlib

import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from hypothesis import given, settings
from hypothesis import strategies as st

from wcx.wallet.signers import Signature, SignerError
from wcx.wallet.signers.signature import (
    HALF_N,
    SECP256K1_N,
    from_components,
    parse_token_signature,
    sign_with_private_key,
)

SECRET = hashlib.sha256(b"signature tests").digest()
DIGEST = hashlib.sha256(b"a transaction").digest()


def _public(secret: bytes = SECRET) -> bytes:
    return PrivateKey(secret).public_key.format(compressed=True)


def test_high_s_is_normalised_and_the_recovery_id_still_recovers_the_key() -> None:
    low = sign_with_private_key(SECRET, DIGEST)
    high_s = SECP256K1_N - low.s
    assert high_s > HALF_N
    normalised = from_components(low.r, high_s, DIGEST, _public())
    assert normalised == low
    assert normalised.recover(DIGEST) == _public()


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), digest=st.binary(min_size=32, max_size=32))
def test_every_signature_is_low_s_and_recovers(secret: bytes, digest: bytes) -> None:
    if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
        return
    signature = sign_with_private_key(secret, digest)
    assert signature.s <= HALF_N
    assert signature.recover(digest) == _public(secret)
    assert signature.verify(_public(secret), digest)


def test_signature_verifies_with_an_independent_library() -> None:
    signature = sign_with_private_key(SECRET, DIGEST)
    key = ec.derive_private_key(int.from_bytes(SECRET, "big"), ec.SECP256K1()).public_key()
    key.verify(signature.to_der(), DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))  # raises if invalid


def test_der_and_raw_token_outputs_parse_to_the_same_components() -> None:
    signature = sign_with_private_key(SECRET, DIGEST)
    assert parse_token_signature(signature.to_bytes()) == (signature.r, signature.s)
    assert parse_token_signature(signature.to_der()) == (signature.r, signature.s)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"\x30\x02\x02\x00", b"\x30\x06\x02\x01\x01\x02\x01\x01\x00", b"\x31" + b"\x00" * 69, b"\x00" * 63],
)
def test_malformed_token_output_is_a_signer_error(garbage: bytes) -> None:
    with pytest.raises(SignerError):
        parse_token_signature(garbage)


def test_a_signature_that_belongs_to_another_key_is_refused() -> None:
    signature = sign_with_private_key(SECRET, DIGEST)
    other = _public(hashlib.sha256(b"someone else").digest())
    assert not signature.verify(other, DIGEST)
    with pytest.raises(SignerError, match="does not verify"):
        from_components(signature.r, signature.s, DIGEST, other)


@pytest.mark.parametrize(
    ("r", "s", "recovery_id"),
    [(0, 1, 0), (SECP256K1_N, 1, 0), (1, 0, 0), (1, HALF_N + 1, 0), (1, 1, 2), (1, 1, -1)],
)
def test_out_of_range_components_are_refused(r: int, s: int, recovery_id: int) -> None:
    with pytest.raises(SignerError):
        Signature(r, s, recovery_id)


def test_digest_must_be_32_bytes() -> None:
    with pytest.raises(SignerError, match="32 bytes"):
        sign_with_private_key(SECRET, b"short")


def test_ethereum_v_forms() -> None:
    signature = Signature(1, 1, 1)
    assert signature.ethereum_v(typed=True) == 1
    assert signature.ethereum_v(None) == 28
    assert signature.ethereum_v(1) == 38
    assert signature.ethereum_v(1337) == 35 + 2 * 1337 + 1
