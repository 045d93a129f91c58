"""Access tokens: HS256 JWTs with claims sub (user id), sid (session family), exp, iat, jti, typ="access"."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import jwt

from wcx.api.errors import ApiError

ALGORITHM = "HS256"
ACCESS = "access"
_REQUIRED = ["exp", "iat", "sub", "sid", "jti", "typ"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a valid access token says."""

    user_id: int
    session_id: str
    expires_at: int


def issue_access(key: bytes, user_id: int, session_id: str, now: float, ttl_s: int) -> str:
    """A signed access token for `user_id` in session family `session_id`, valid for `ttl_s`."""
    issued = int(now)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
        "typ": ACCESS,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_access(key: bytes, token: str, now: float) -> AccessClaims:
    """The claims of a valid access token; 401 TOKEN_EXPIRED or UNAUTHENTICATED otherwise.

    Time claims are checked here against the injected clock rather than by PyJWT's wall clock.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": _REQUIRED},
        )
        user_id = int(claims["sub"])
        expires_at = int(claims["exp"])
        session_id = claims["sid"]
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise ApiError(401, "UNAUTHENTICATED", "invalid access token") from exc
    if claims["typ"] != ACCESS or not isinstance(session_id, str) or user_id <= 0:
        raise ApiError(401, "UNAUTHENTICATED", "invalid access token")
    if expires_at <= now:
        raise ApiError(401, "TOKEN_EXPIRED", "the access token has expired; refresh it")
    return AccessClaims(user_id, session_id, expires_at)
