"""`FakeSigner`: an in-memory secp256k1 signer for tests, with failure injection and a call log."""

from __future__ import annotations

import hashlib

from wcx.wallet.signers.errors import SignerError
from wcx.wallet.signers.signature import Signature, public_key_of, sign_with_private_key


class FakeSigner:
    """Satisfies the `Signer` port with a deterministic key from `seed`; real, verifiable signatures."""

    backend = "fake"

    def __init__(self, seed: bytes = b"wcx fake hot wallet", *, key_id: str = "fake:hot") -> None:
        self._secret = hashlib.sha256(seed).digest()
        self._key_id = key_id
        self.signed: list[bytes] = []
        self.failures: list[Exception] = []

    @property
    def key_id(self) -> str:
        """The name given at construction."""
        return self._key_id

    @property
    def private_key(self) -> bytes:
        """The raw secret, so tests can cross-check against other libraries."""
        return self._secret

    def public_key(self) -> bytes:
        """The 33-byte compressed public key."""
        return public_key_of(self._secret)

    def fail_next(self, error: Exception | None = None) -> None:
        """Make the next `sign_digest` raise `error` (a SignerError by default)."""
        self.failures.append(error or SignerError("injected signer failure"))

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign `digest`, or raise the next injected failure; every attempt is logged in `signed`."""
        self.signed.append(bytes(digest))
        if self.failures:
            raise self.failures.pop(0)
        return sign_with_private_key(self._secret, digest)
