"""Secrets at rest: keyed hashes for bearer tokens, AES-GCM for secrets the server must read back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe token (refresh tokens, email verification)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(key: bytes, purpose: str, token: str) -> str:
    """The stored form of a bearer token: HMAC-SHA256 hex, so a leaked table yields no usable tokens."""
    return hmac.new(key, f"{purpose}\x00{token}".encode(), hashlib.sha256).hexdigest()


class Sealer:
    """AES-256-GCM, keyed by HKDF-SHA256 of a server secret; `aad` binds each ciphertext to its row."""

    def __init__(self, secret: bytes, info: bytes = b"wcx/auth/sealed-secrets/v1") -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: str) -> str:
        """Encrypt: URL-safe base64 (no padding) of nonce + ciphertext + tag."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, aad.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, sealed: str, aad: str) -> bytes:
        """Decrypt what `seal` produced with the same `aad`; ValueError if it was altered or moved."""
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())
        except InvalidTag as exc:
            raise ValueError("sealed secret does not authenticate") from exc
