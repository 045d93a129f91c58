"""TOTP (RFC 6238, 30 s steps, 6 digits) and one-time recovery codes."""

from __future__ import annotations

import base64
import secrets

import pyotp

ISSUER = "wcx"
RECOVERY_CODES = 10


def new_secret() -> bytes:
    """A random 160-bit TOTP key."""
    return secrets.token_bytes(20)


def secret_text(secret: bytes) -> str:
    """The base32 form authenticator apps take."""
    return base64.b32encode(secret).decode()


def provisioning_uri(secret: bytes, email: str) -> str:
    """The otpauth:// URI for a QR code."""
    return pyotp.TOTP(secret_text(secret)).provisioning_uri(name=email, issuer_name=ISSUER)


def code_matches(secret: bytes, code: str, now: float) -> bool:
    """Whether `code` is the current code, or the previous or next one (clock drift)."""
    code = code.strip()
    return (
        len(code) == 6
        and code.isdigit()
        and pyotp.TOTP(secret_text(secret)).verify(code, for_time=now, valid_window=1)
    )


def new_recovery_codes() -> list[str]:
    """Ten random codes like `3f9a1-c07d2`, shown to the user once."""
    return [f"{c[:5]}-{c[5:]}" for c in (secrets.token_hex(5) for _ in range(RECOVERY_CODES))]


def normalize_recovery_code(code: str) -> str:
    """Case, spaces and dashes do not matter when typing a recovery code back."""
    return "".join(code.split()).replace("-", "").lower()
