"""Signed API-key requests.

The signed message is the bytes of f"{timestamp}{METHOD}{path_with_query}" followed by the raw body,
where `timestamp` is the X-WCX-TIMESTAMP header (milliseconds since the epoch, decimal), METHOD is
upper case and `path_with_query` is the request target exactly as sent (percent-encoding untouched,
"?" and the query string only when there is one). HMAC keys sign with HMAC-SHA256 keyed by the
secret's ASCII text and send lower-case hex; Ed25519 keys send the standard base64 of the 64-byte
signature. A WebSocket login signs f"{timestamp}GET/ws" (no body).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wcx.api.errors import ApiError


def message(timestamp: str, method: str, target: str, body: bytes = b"") -> bytes:
    """The bytes a request signature covers."""
    return f"{timestamp}{method.upper()}{target}".encode() + body


def ws_login_message(timestamp: str) -> bytes:
    """The bytes a WebSocket login signature covers."""
    return message(timestamp, "GET", "/ws")


def hmac_signature(secret: str, signed: bytes) -> str:
    """The hex HMAC-SHA256 signature (what a client computes)."""
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def hmac_valid(secret: str, signed: bytes, signature: str) -> bool:
    """Whether `signature` is the HMAC of `signed`, compared in constant time."""
    return hmac.compare_digest(hmac_signature(secret, signed), signature.strip().lower())


def ed25519_valid(public_key: Ed25519PublicKey, signed: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is a valid Ed25519 signature of `signed`."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), signed)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or base64 of the raw 32 bytes; 422 otherwise."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ApiError(
            422, "INVALID_PUBLIC_KEY", "public_key must be an Ed25519 key (PEM or base64)"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ApiError(422, "INVALID_PUBLIC_KEY", "public_key must be an Ed25519 key")
    return key


def raw_public_key(key: Ed25519PublicKey) -> str:
    """The stored form of a public key: base64 of its 32 raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
