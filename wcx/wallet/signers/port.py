"""The `Signer` port: the one thing the withdrawal pipeline and sweeps need from a key."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from wcx.wallet.signers.signature import Signature


@runtime_checkable
class Signer(Protocol):
    """Signs 32-byte digests with one secp256k1 key; blocking, so call it via `asyncio.to_thread`."""

    @property
    def key_id(self) -> str:
        """A stable, non-secret name for the key (for logs, metrics and the withdrawal record)."""
        ...

    def public_key(self) -> bytes:
        """The 33-byte compressed secp256k1 public key."""
        ...

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest; the result is low-s and carries its recovery id. Raises SignerError."""
        ...
