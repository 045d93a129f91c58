"""The auth endpoints (mounted under /api/v1): thin views over `accounts` and `api_keys`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.api.auth import accounts, api_keys, schemas
from wcx.api.auth.principals import session_principal
from wcx.api.auth.state import AuthState, auth_state
from wcx.api.principal import Principal

router = APIRouter()

Session = Annotated[Principal, Depends(session_principal)]


def _ctx(request: Request) -> tuple[AsyncEngine, AuthState]:
    runtime: Any = request.app.state.runtime
    return runtime.db, auth_state(runtime)


async def _event(request: Request, principal: Principal, action: str, **after: Any) -> None:
    """Audit a security event the signed-in user caused."""
    subject = f"user:{principal.user_id}"
    await accounts.security_event(
        *_ctx(request),
        actor=subject,
        action=action,
        target=subject,
        ip=_client(request).ip,
        after=after or None,
    )


def _client(request: Request) -> accounts.Client:
    return accounts.Client(
        ip=request.client.host if request.client else "", user_agent=request.headers.get("user-agent", "")
    )


@router.post("/auth/register", status_code=202, response_model=schemas.Accepted, tags=["auth"])
async def register(body: schemas.RegisterRequest, request: Request) -> schemas.Accepted:
    """Sign up; the verification link goes to the email (the same answer for a known email)."""
    await accounts.register(*_ctx(request), body)
    return schemas.Accepted(message="check your email to verify the address")


@router.post("/auth/verify-email", response_model=schemas.Verified, tags=["auth"])
async def verify_email(body: schemas.VerifyEmailRequest, request: Request) -> schemas.Verified:
    """Verify the email with the token it received."""
    await accounts.verify_email(*_ctx(request), body.token)
    return schemas.Verified(verified=True)


@router.post("/auth/login", response_model=schemas.Tokens, tags=["auth"])
async def login(body: schemas.LoginRequest, request: Request) -> schemas.Tokens:
    """Email + password (+ TOTP or recovery code) -> access and refresh tokens."""
    return await accounts.login(*_ctx(request), body, _client(request))


@router.post("/auth/refresh", response_model=schemas.Tokens, tags=["auth"])
async def refresh(body: schemas.RefreshRequest, request: Request) -> schemas.Tokens:
    """Trade a refresh token (once) for new tokens."""
    return await accounts.refresh(*_ctx(request), body.refresh_token, _client(request))


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(request: Request, principal: Session) -> Response:
    """End the current session."""
    assert principal.session_id is not None
    await accounts.logout(*_ctx(request), principal.user_id, principal.session_id)
    await _event(request, principal, "auth.logout", session=principal.session_id)
    return Response(status_code=204)


@router.post("/auth/password", response_model=schemas.PasswordChanged, tags=["auth"])
async def change_password(
    body: schemas.PasswordChange, request: Request, principal: Session
) -> schemas.PasswordChanged:
    """Change the password; every session (this one too) ends."""
    revoked = await accounts.change_password(*_ctx(request), principal.user_id, body, _client(request))
    await _event(request, principal, "auth.password_change", revoked_sessions=revoked)
    return schemas.PasswordChanged(revoked_sessions=revoked)


@router.post("/auth/2fa/enable", response_model=schemas.TotpSetup, tags=["auth"])
async def enable_totp(request: Request, principal: Session) -> schemas.TotpSetup:
    """Start 2FA setup: a secret for the authenticator app."""
    setup = await accounts.enable_totp(*_ctx(request), principal.user_id)
    await _event(request, principal, "auth.2fa_setup")
    return setup


@router.post("/auth/2fa/verify", response_model=schemas.RecoveryCodes, tags=["auth"])
async def verify_totp(body: schemas.TotpCode, request: Request, principal: Session) -> schemas.RecoveryCodes:
    """Turn 2FA on with a first code; the one-time recovery codes, shown only now."""
    codes = await accounts.verify_totp(*_ctx(request), principal.user_id, body.totp_code)
    await _event(request, principal, "auth.2fa_enabled")
    return schemas.RecoveryCodes(recovery_codes=codes)


@router.post("/auth/2fa/disable", response_model=schemas.TotpDisabled, tags=["auth"])
async def disable_totp(
    body: schemas.SecondFactor, request: Request, principal: Session
) -> schemas.TotpDisabled:
    """Turn 2FA off with a current code or a recovery code."""
    await accounts.disable_totp(*_ctx(request), principal.user_id, body)
    await _event(request, principal, "auth.2fa_disabled")
    return schemas.TotpDisabled(totp_enabled=False)


@router.get("/account/sessions", response_model=list[schemas.SessionInfo], tags=["account"])
async def list_sessions(request: Request, principal: Session) -> list[schemas.SessionInfo]:
    """The live sessions of the account."""
    return await accounts.list_sessions(*_ctx(request), principal.user_id, principal.session_id)


@router.delete("/account/sessions/{session_id}", status_code=204, tags=["account"])
async def revoke_session(session_id: str, request: Request, principal: Session) -> Response:
    """End one session."""
    await accounts.revoke_session(*_ctx(request), principal.user_id, session_id)
    await _event(request, principal, "auth.session_revoked", session=session_id)
    return Response(status_code=204)


@router.get("/api-keys", response_model=list[schemas.ApiKeyInfo], tags=["api-keys"])
async def list_api_keys(request: Request, principal: Session) -> list[schemas.ApiKeyInfo]:
    """The live API keys (never their secrets)."""
    return await api_keys.list_keys(request.app.state.runtime.db, principal.user_id)


@router.post("/api-keys", status_code=201, response_model=schemas.ApiKeyCreated, tags=["api-keys"])
async def create_api_key(
    body: schemas.ApiKeyCreate, request: Request, principal: Session
) -> schemas.ApiKeyCreated:
    """Create an API key; an HMAC key's secret is in this answer only."""
    created = await api_keys.create_key(*_ctx(request), principal.user_id, body)
    await _event(
        request,
        principal,
        "auth.api_key_created",
        key_id=created.id,
        kind=body.kind,
        permissions=list(body.permissions),
        ip_allowlist=body.ip_allowlist,
        label=body.label,
    )
    return created


@router.delete("/api-keys/{key_id}", status_code=204, tags=["api-keys"])
async def revoke_api_key(key_id: int, request: Request, principal: Session) -> Response:
    """Revoke an API key at once."""
    await api_keys.revoke_key(*_ctx(request), principal.user_id, key_id)
    await _event(request, principal, "auth.api_key_revoked", key_id=key_id)
    return Response(status_code=204)
