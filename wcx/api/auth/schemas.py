"""Request and response bodies of the auth endpoints (strict: no coercion, no unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from wcx.api.auth.passwords import MAX_PASSWORD
from wcx.api.principal import Permission

Password = Field(max_length=MAX_PASSWORD)
# FastAPI validates parsed JSON as Python objects, where strict mode would refuse the string "read".
PermissionName = Annotated[Permission, Field(strict=False)]


class Strict(BaseModel):
    """Base of every body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class RegisterRequest(Strict):
    """Sign up."""

    email: str = Field(max_length=320)
    password: str = Password


class Accepted(Strict):
    """The same answer whether or not the email was already registered (no enumeration)."""

    message: str


class VerifyEmailRequest(Strict):
    """The token from the verification email."""

    token: str = Field(max_length=128)


class Verified(Strict):
    """The email is verified."""

    verified: bool


class SecondFactor(Strict):
    """A TOTP code or one unused recovery code (2FA)."""

    totp_code: str | None = Field(None, max_length=16)
    recovery_code: str | None = Field(None, max_length=32)


class LoginRequest(SecondFactor):
    """Email and password, plus a second factor when 2FA is on."""

    email: str = Field(max_length=320)
    password: str = Password


class Tokens(Strict):
    """A new session: a short-lived access token and a rotating refresh token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str


class RefreshRequest(Strict):
    """The current refresh token (each one works once)."""

    refresh_token: str = Field(max_length=128)


class PasswordChange(Strict):
    """Change the password; every session ends."""

    current_password: str = Password
    new_password: str = Password


class PasswordChanged(Strict):
    """How many sessions were ended."""

    revoked_sessions: int


class TotpSetup(Strict):
    """A pending TOTP secret; POST /auth/2fa/verify with a code to turn 2FA on."""

    secret: str
    otpauth_uri: str


class TotpCode(Strict):
    """A code from the authenticator app."""

    totp_code: str = Field(max_length=16)


class RecoveryCodes(Strict):
    """One-time recovery codes, shown only now."""

    recovery_codes: list[str]


class TotpDisabled(Strict):
    """2FA is off."""

    totp_enabled: bool


class SessionInfo(Strict):
    """An active session (one refresh-token family)."""

    id: str
    refreshed_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


class ApiKeyCreate(Strict):
    """A new API key: HMAC (the server makes the secret) or Ed25519 (bring your public key)."""

    label: str = Field("", max_length=64)
    permissions: list[PermissionName] = Field(min_length=1, max_length=3)
    ip_allowlist: list[str] = Field(default_factory=list, max_length=32)
    kind: Literal["hmac", "ed25519"] = "hmac"
    public_key: str | None = Field(None, max_length=1024)


class ApiKeyInfo(Strict):
    """An API key as listed (never with its secret)."""

    id: int
    key: str
    kind: Literal["hmac", "ed25519"]
    label: str
    permissions: list[PermissionName]
    ip_allowlist: list[str]
    created_at: datetime


class ApiKeyCreated(ApiKeyInfo):
    """The new key; `secret` (HMAC keys only) is shown this once."""

    secret: str | None
