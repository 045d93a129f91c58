"""Encryption at rest: AES-256-GCM for documents on disk and personal data in the database.

Each purpose gets its own key, derived from KYC_ENCRYPTION_KEY with HKDF-SHA256, and every ciphertext
is bound (associated data) to what it belongs to: a document file to its storage name and user, sealed
personal data to its submission. A file copied to another name, or a row's data pasted into another
row, fails authentication instead of decrypting.

Key rotation: the first key encrypts, every key decrypts (KYC_ENCRYPTION_OLD_KEYS holds the retired
ones) and `reseal` rewrites a ciphertext under the current key; `wcx kyc rotate-key` does that for
every document and submission, after which the old key can be dropped.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
FORMAT = b"WCXK1"
"""File header: format and version, so a future key rotation can recognise old files."""


class VaultError(Exception):
    """A ciphertext that does not authenticate, or a missing file."""


def _derive(key: bytes, purpose: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key))


def _ciphers(keys: bytes | Sequence[bytes], purpose: bytes) -> list[AESGCM]:
    """One cipher per key, the current key first."""
    listed = [keys] if isinstance(keys, bytes) else list(keys)
    if not listed:
        raise ValueError("at least one key is needed")
    return [_derive(key, purpose) for key in listed]


def _decrypt(ciphers: Sequence[AESGCM], nonce: bytes, body: bytes, aad: bytes) -> bytes | None:
    for cipher in ciphers:
        try:
            return cipher.decrypt(nonce, body, aad)
        except InvalidTag:
            continue
    return None


class Sealer:
    """AES-GCM over small values (personal data), as URL-safe base64 text."""

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        self._ciphers = _ciphers(keys, b"wcx/kyc/personal-data/v1")

    def seal(self, plaintext: bytes, aad: str) -> str:
        """nonce + ciphertext + tag under the current key, base64 (no padding)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = nonce + self._ciphers[0].encrypt(nonce, plaintext, aad.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, sealed: str, aad: str) -> bytes:
        """The plaintext (under any known key); VaultError if altered or bound to something else."""
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        plaintext = _decrypt(self._ciphers, raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
        if plaintext is None:
            raise VaultError("sealed personal data does not authenticate")
        return plaintext

    def reseal(self, sealed: str, aad: str) -> str:
        """The same value sealed under the current key."""
        return self.seal(self.open(sealed, aad), aad)


class DocumentVault:
    """Encrypted document files under generated names in one directory (sharded by name prefix)."""

    def __init__(self, root: Path, keys: bytes | Sequence[bytes]) -> None:
        self.root = root
        self._ciphers = _ciphers(keys, b"wcx/kyc/documents/v1")

    @staticmethod
    def new_name() -> str:
        """A fresh storage name: 32 hex characters, nothing from the client."""
        return secrets.token_hex(16)

    def path(self, name: str) -> Path:
        """Where the file of storage name `name` lives."""
        if len(name) != 32 or any(c not in "0123456789abcdef" for c in name):
            raise VaultError(f"not a storage name: {name!r}")
        return self.root / name[:2] / f"{name}.bin"

    @staticmethod
    def _aad(name: str, user_id: int) -> bytes:
        return f"kyc-document:{name}:{user_id}".encode()

    def store(self, name: str, user_id: int, plaintext: bytes) -> None:
        """Encrypt and write durably (temp file + fsync + rename), never overwriting."""
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists():
            raise VaultError(f"storage name {name} already used")
        self._write(path, name, user_id, plaintext)

    def reseal(self, name: str, user_id: int) -> None:
        """Rewrite a file under the current key (atomically replacing it)."""
        self._write(self.path(name), name, user_id, self.load(name, user_id))

    def _write(self, path: Path, name: str, user_id: int, plaintext: bytes) -> None:
        nonce = secrets.token_bytes(NONCE_BYTES)
        blob = FORMAT + nonce + self._ciphers[0].encrypt(nonce, plaintext, self._aad(name, user_id))
        temp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)

    def load(self, name: str, user_id: int) -> bytes:
        """Read and decrypt; VaultError if missing, altered, or not this user's file."""
        try:
            blob = self.path(name).read_bytes()
        except OSError as exc:
            raise VaultError(f"document file {name} unreadable: {exc.strerror}") from None
        if not blob.startswith(FORMAT):
            raise VaultError(f"document file {name} has an unknown format")
        body = blob[len(FORMAT) :]
        plaintext = _decrypt(self._ciphers, body[:NONCE_BYTES], body[NONCE_BYTES:], self._aad(name, user_id))
        if plaintext is None:
            raise VaultError(f"document file {name} does not authenticate")
        return plaintext

    def delete(self, name: str) -> None:
        """Remove a file (a document replaced in a draft); missing is fine."""
        self.path(name).unlink(missing_ok=True)
