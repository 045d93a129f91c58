"""Password policy and argon2id hashing (off the event loop: one hash costs ~100 ms of CPU)."""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wcx.api.errors import ApiError

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # bounds the hashing work a request can ask for

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


def normalize_email(raw: str) -> str:
    """Trimmed, lower-cased ASCII address; 422 INVALID_EMAIL otherwise (internationalized addresses too)."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise ApiError(422, "INVALID_EMAIL", "not a valid email address")
    return email


def check_password_policy(password: str, email: str) -> None:
    """422 WEAK_PASSWORD unless the password has 10..1024 characters and is not the email."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or password.strip().lower() == email:
        raise ApiError(
            422,
            "WEAK_PASSWORD",
            f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters, not the email",
        )


class Passwords:
    """argon2id hashing with the library's RFC 9106 defaults, unless a cheaper hasher is injected (tests)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password`."""
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown user) spend the same time and answer False."""
        if password_hash is None:
            if self._dummy is None:
                self._dummy = await self.hash("wcx-dummy-password")
            await asyncio.to_thread(self._verify, self._dummy, password)
            return False
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than today's."""
        return self._hasher.check_needs_rehash(password_hash)
