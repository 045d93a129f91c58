"""The secp256k1 `Signature` value: low-s normalised, with a recovery id we compute ourselves."""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from wcx.wallet.signers.errors import SignerError

# Order of the secp256k1 group; s above half of it is the malleable twin Ethereum and Bitcoin refuse.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2
DIGEST_SIZE = 32


@dataclass(frozen=True, slots=True)
class Signature:
    """An ECDSA signature over a 32-byte digest: `r`, low `s`, and the public-key recovery id (0 or 1)."""

    r: int
    s: int
    recovery_id: int

    def __post_init__(self) -> None:
        if not 1 <= self.r < SECP256K1_N:
            raise SignerError("signature r is out of range")
        if not 1 <= self.s <= HALF_N:
            raise SignerError("signature s is not low-s normalised")
        if self.recovery_id not in (0, 1):
            raise SignerError(f"recovery id must be 0 or 1, not {self.recovery_id}")

    def to_bytes(self) -> bytes:
        """The 64-byte `r || s` form (PKCS#11 CKM_ECDSA output, Bitcoin compact without header)."""
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big")

    def to_recoverable_bytes(self) -> bytes:
        """The 65-byte `r || s || recovery_id` form libsecp256k1 recovers from."""
        return self.to_bytes() + bytes([self.recovery_id])

    def to_der(self) -> bytes:
        """The DER encoding (Bitcoin script signatures, X.509 tooling)."""
        return _der_sequence(_der_integer(self.r) + _der_integer(self.s))

    def ethereum_v(self, chain_id: int | None = None, *, typed: bool = False) -> int:
        """Ethereum's `v`: the y-parity for typed (EIP-2718) transactions, else EIP-155 or pre-155 form."""
        if typed:
            return self.recovery_id
        if chain_id is None:
            return 27 + self.recovery_id
        return 35 + 2 * chain_id + self.recovery_id

    def recover(self, digest: bytes) -> bytes:
        """The 33-byte compressed public key that produced this signature over `digest`."""
        _check_digest(digest)
        try:
            key = PublicKey.from_signature_and_message(self.to_recoverable_bytes(), digest, hasher=None)
        except Exception as exc:  # coincurve raises bare Exception on unrecoverable input
            raise SignerError("signature does not recover to a public key") from exc
        return key.format(compressed=True)

    def verify(self, public_key: bytes, digest: bytes) -> bool:
        """Whether this signature is valid for `digest` under `public_key` (compressed or not)."""
        _check_digest(digest)
        try:
            return PublicKey(public_key).verify(self.to_der(), digest, hasher=None)
        except Exception:  # a malformed key is simply not a match
            return False


def from_components(r: int, s: int, digest: bytes, public_key: bytes) -> Signature:
    """Normalise `s` to the low half and find the recovery id that yields `public_key`; else SignerError."""
    _check_digest(digest)
    if s > HALF_N:
        s = SECP256K1_N - s
    expected = compress_public_key(public_key)
    for recovery_id in (0, 1):
        candidate = Signature(r, s, recovery_id)
        try:
            recovered = candidate.recover(digest)
        except SignerError:
            continue
        if recovered == expected:
            return candidate
    # Recovery ids 2 and 3 need r >= n - p (probability ~2^-128) and no chain we serve accepts them.
    raise SignerError("signature does not verify against the signer's public key")


def parse_token_signature(raw: bytes) -> tuple[int, int]:
    """(r, s) from a token's ECDSA output: 64-byte `r || s` (PKCS#11 standard) or DER (some tokens)."""
    if len(raw) == 64:
        return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return _parse_der_signature(raw)


def compress_public_key(public_key: bytes) -> bytes:
    """The 33-byte compressed form of a secp256k1 public key given compressed or uncompressed."""
    try:
        return PublicKey(public_key).format(compressed=True)
    except Exception as exc:  # coincurve raises bare Exception on a point off the curve
        raise SignerError("not a secp256k1 public key") from exc


def uncompressed_public_key(public_key: bytes) -> bytes:
    """The 65-byte uncompressed form (0x04 || x || y) of a secp256k1 public key."""
    try:
        return PublicKey(public_key).format(compressed=False)
    except Exception as exc:  # coincurve raises bare Exception on a point off the curve
        raise SignerError("not a secp256k1 public key") from exc


def sign_with_private_key(secret: bytes, digest: bytes) -> Signature:
    """Sign `digest` with an in-memory secp256k1 secret (RFC 6979 nonces, low-s by libsecp256k1)."""
    _check_digest(digest)
    key = PrivateKey(secret)
    compact = key.sign_recoverable(digest, hasher=None)
    r, s = int.from_bytes(compact[:32], "big"), int.from_bytes(compact[32:64], "big")
    return from_components(r, s, digest, key.public_key.format(compressed=True))


def public_key_of(secret: bytes) -> bytes:
    """The 33-byte compressed public key of an in-memory secp256k1 secret."""
    return PrivateKey(secret).public_key.format(compressed=True)


def _check_digest(digest: bytes) -> None:
    if not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_SIZE:
        raise SignerError(f"a digest must be exactly {DIGEST_SIZE} bytes")


def _der_integer(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # the extra bit keeps it positive
    return b"\x02" + _der_length(len(body)) + body


def _der_sequence(body: bytes) -> bytes:
    return b"\x30" + _der_length(len(body)) + body


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _parse_der_signature(der: bytes) -> tuple[int, int]:
    """(r, s) from `SEQUENCE { INTEGER r, INTEGER s }`, strictly (no trailing bytes, short lengths)."""
    try:
        if der[0] != 0x30 or der[1] != len(der) - 2:
            raise ValueError("not a DER sequence")
        values: list[int] = []
        position = 2
        for _ in range(2):
            if der[position] != 0x02:
                raise ValueError("not a DER integer")
            length = der[position + 1]
            if length == 0 or length > 33:
                raise ValueError("bad DER integer length")
            body = der[position + 2 : position + 2 + length]
            if len(body) != length or body[0] & 0x80:
                raise ValueError("truncated or negative DER integer")
            values.append(int.from_bytes(body, "big"))
            position += 2 + length
        if position != len(der):
            raise ValueError("trailing bytes after DER signature")
    except (IndexError, ValueError) as exc:
        raise SignerError(f"unparseable token signature: {exc}") from exc
    return values[0], values[1]
