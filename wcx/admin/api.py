"""The admin JSON API under /admin/api/v1: thin views over the admin services.

Each route declares its permission with `requires(...)`; approving or rejecting a four-eyes request
additionally needs the permission of the request's kind, checked against the request itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from wcx.admin import (
    accounts,
    admins,
    approvals,
    audit_log,
    deposits_review,
    funds,
    hot_cold,
    kyc_cases,
    markets,
    users,
    withdrawal_queue,
)
from wcx.admin.accounts import Actor
from wcx.admin.guard import client_ip, requires
from wcx.admin.permissions import ROLE_PERMISSIONS, Permission
from wcx.admin.state import admin_state
from wcx.engine import MarketStatus
from wcx.runtime import Runtime

PREFIX = "/admin/api/v1"
router = APIRouter(prefix=PREFIX)


class LoginIn(BaseModel):
    """Email, password and the current authenticator code."""

    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    totp_code: str = Field(max_length=12)


class LoginOut(BaseModel):
    """A session token (send as `Authorization: Bearer`) and its limits."""

    token: str
    idle_timeout_s: int
    max_lifetime_s: int


class PasswordIn(BaseModel):
    """The current password and the new one."""

    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class ReasonIn(BaseModel):
    """Why (kept in the audit record)."""

    reason: str = Field("", max_length=255)


class StatusIn(BaseModel):
    """A market status."""

    status: MarketStatus


def document_response(view: Any, data: bytes) -> Response:
    """A KYC document served to the viewer: inline, its detected type, not sniffed, not cached."""
    headers = {
        "Content-Disposition": "inline",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    if view.content_type.startswith("image/"):
        # Nothing in an image needs to run or load anything (PDFs keep the browser's own viewer working).
        headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
    return Response(data, media_type=view.content_type, headers=headers)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request) -> LoginOut:
    """Sign in with password + TOTP; every admin action then carries the token."""
    runtime = _runtime(request)
    state = admin_state(runtime)
    token = await accounts.login(
        runtime.db,
        state,
        email=body.email,
        password=body.password,
        totp_code=body.totp_code,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    return LoginOut(
        token=token, idle_timeout_s=state.admin.session_idle_s, max_lifetime_s=state.admin.session_max_s
    )


@router.post("/logout", status_code=204)
async def logout(request: Request, actor: Annotated[Actor, requires(Permission.SELF)]) -> Response:
    """End this session."""
    runtime = _runtime(request)
    await accounts.logout(runtime.db, admin_state(runtime), actor)
    return Response(status_code=204)


@router.get("/me")
async def me(actor: Annotated[Actor, requires(Permission.SELF)]) -> dict[str, Any]:
    """The signed-in admin, its role and what the role permits."""
    return {
        "id": actor.admin_id,
        "email": actor.email,
        "role": actor.role.value,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[actor.role]),
    }


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordIn, request: Request, actor: Annotated[Actor, requires(Permission.SELF)]
) -> Response:
    """Change one's own password (other sessions end)."""
    runtime = _runtime(request)
    await accounts.change_password(
        runtime.db, admin_state(runtime), actor, current=body.current_password, new=body.new_password
    )
    return Response(status_code=204)


# --- users -------------------------------------------------------------------------------------------


@router.get("/users")
async def search_users(
    request: Request,
    _: Annotated[Actor, requires(Permission.USERS_READ)],
    q: Annotated[str, Query(max_length=254)] = "",
) -> list[dict[str, Any]]:
    """Users by email fragment or id."""
    return await users.search_users(_runtime(request), q)


@router.get("/users/{user_id}")
async def user_view(
    user_id: int, request: Request, _: Annotated[Actor, requires(Permission.USERS_READ)]
) -> dict[str, Any]:
    """One user: balances, orders, fills, deposits, withdrawals, sessions, API keys, security events."""
    return await users.user_view(_runtime(request), user_id)


@router.post("/users/{user_id}/freeze")
async def freeze(
    user_id: int, body: ReasonIn, request: Request, actor: Annotated[Actor, requires(Permission.USERS_FREEZE)]
) -> dict[str, Any]:
    """Freeze: open orders cancelled; logins, API calls and withdrawals refused."""
    return await users.set_frozen(_runtime(request), actor, user_id, True, body.reason)


@router.post("/users/{user_id}/unfreeze")
async def unfreeze(
    user_id: int, body: ReasonIn, request: Request, actor: Annotated[Actor, requires(Permission.USERS_FREEZE)]
) -> dict[str, Any]:
    """Lift a freeze."""
    return await users.set_frozen(_runtime(request), actor, user_id, False, body.reason)


# --- KYC ----------------------------------------------------------------------------------------------


@router.get("/kyc/queue")
async def kyc_queue(
    request: Request, _: Annotated[Actor, requires(Permission.KYC_READ)]
) -> list[dict[str, Any]]:
    """KYC cases waiting for review, oldest first."""
    return [item.model_dump(mode="json") for item in await kyc_cases.queue(_runtime(request))]


@router.get("/kyc/cases/{submission_id}")
async def kyc_case(
    submission_id: int, request: Request, _: Annotated[Actor, requires(Permission.KYC_READ)]
) -> dict[str, Any]:
    """One case: personal data, documents, history and screening hits."""
    return (await kyc_cases.case(_runtime(request), submission_id)).model_dump(mode="json")


@router.get("/kyc/documents/{document_id}")
async def kyc_document(
    document_id: int, request: Request, _: Annotated[Actor, requires(Permission.KYC_READ)]
) -> Response:
    """A document's bytes for the viewer (inline, never sniffed, never cached)."""
    return document_response(*await kyc_cases.document(_runtime(request), document_id))


@router.post("/kyc/cases/{submission_id}/decision")
async def kyc_decide(
    submission_id: int,
    body: kyc_cases.DecisionIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.KYC_DECIDE)],
) -> dict[str, Any]:
    """Approve, reject or ask for more information."""
    return (await kyc_cases.decide(_runtime(request), actor, submission_id, body)).model_dump(mode="json")


@router.post("/kyc/hits/{hit_id}/resolve")
async def kyc_resolve_hit(
    hit_id: int,
    body: kyc_cases.HitResolutionIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.KYC_DECIDE)],
) -> dict[str, Any]:
    """Clear or confirm a screening hit."""
    return (await kyc_cases.resolve_hit(_runtime(request), actor, hit_id, body)).model_dump(mode="json")


# --- withdrawals ---------------------------------------------------------------------------------------

WithdrawalId = Annotated[str, Path(min_length=1, max_length=40)]


@router.get("/withdrawals/queue")
async def withdrawals_queue(
    request: Request, _: Annotated[Actor, requires(Permission.WITHDRAWALS_READ)]
) -> list[dict[str, Any]]:
    """Withdrawals waiting for four-eyes approval, oldest first."""
    return await withdrawal_queue.queue(_runtime(request))


@router.post("/withdrawals/{withdrawal_id}/approve")
async def withdrawal_approve(
    withdrawal_id: WithdrawalId,
    request: Request,
    actor: Annotated[Actor, requires(Permission.WITHDRAWALS_DECIDE)],
) -> dict[str, Any]:
    """Add this admin's approval; the last required distinct approver releases it to signing."""
    return await withdrawal_queue.approve(_runtime(request), actor, withdrawal_id)


@router.post("/withdrawals/{withdrawal_id}/reject")
async def withdrawal_reject(
    withdrawal_id: WithdrawalId,
    body: withdrawal_queue.RejectIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.WITHDRAWALS_DECIDE)],
) -> dict[str, Any]:
    """Refuse a queued withdrawal (its funds are released)."""
    return await withdrawal_queue.reject(_runtime(request), actor, withdrawal_id, body)


# --- markets and fees ----------------------------------------------------------------------------------


@router.get("/markets")
async def list_markets(
    request: Request, _: Annotated[Actor, requires(Permission.MARKETS_READ)]
) -> list[dict[str, Any]]:
    """Every market with its status."""
    return markets.list_markets(_runtime(request))


@router.post("/markets", status_code=202)
async def create_market(
    body: markets.MarketSpecIn, request: Request, actor: Annotated[Actor, requires(Permission.MARKETS_CREATE)]
) -> dict[str, Any]:
    """Request a new market (four-eyes)."""
    return await markets.request_market(_runtime(request), actor, body)


@router.post("/markets/{symbol}/status")
async def set_market_status(
    symbol: str,
    body: StatusIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.MARKETS_CONTROL)],
) -> dict[str, Any]:
    """Halt, make cancel-only, or resume trading."""
    return await markets.set_status(_runtime(request), actor, symbol, body.status)


@router.get("/fees")
async def fees(request: Request, _: Annotated[Actor, requires(Permission.FEES_READ)]) -> dict[str, Any]:
    """The default fee schedule and per-user overrides."""
    return markets.fee_view(_runtime(request))


@router.post("/fees", status_code=202)
async def change_fees(
    body: markets.FeeChangeIn, request: Request, actor: Annotated[Actor, requires(Permission.FEES_CHANGE)]
) -> dict[str, Any]:
    """Request a fee schedule change (four-eyes)."""
    return await markets.request_fees(_runtime(request), actor, body)


# --- funds ---------------------------------------------------------------------------------------------


@router.post("/funds/credits", status_code=202)
async def credit(
    body: funds.CreditIn, request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_CREDIT)]
) -> dict[str, Any]:
    """Request a manual credit for a received fiat wire (four-eyes)."""
    return await funds.request_credit(_runtime(request), actor, body)


@router.post("/funds/adjustments", status_code=202)
async def adjust(
    body: funds.AdjustmentIn, request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_CREDIT)]
) -> dict[str, Any]:
    """Request a balance adjustment (four-eyes)."""
    return await funds.request_adjustment(_runtime(request), actor, body)


@router.get("/deposits/attention")
async def deposits_attention(
    request: Request, _: Annotated[Actor, requires(Permission.FUNDS_READ)]
) -> list[dict[str, Any]]:
    """On-chain deposits held by a gate, reorged after crediting, or refused by the engine."""
    return await deposits_review.attention(_runtime(request))


@router.post("/deposits/{deposit_id}/release", status_code=202)
async def release_deposit(
    deposit_id: int, request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_CREDIT)]
) -> dict[str, Any]:
    """Request crediting a held deposit now (four-eyes)."""
    return await deposits_review.request_release(_runtime(request), actor, deposit_id)


@router.get("/hot-wallet/rebalances")
async def hot_wallet_rebalances(
    request: Request, _: Annotated[Actor, requires(Permission.FUNDS_READ)]
) -> list[dict[str, Any]]:
    """Hot/cold records newest first: proposals, cold-to-hot requests, and transfers with their state."""
    return await hot_cold.rebalances(_runtime(request))


@router.post("/hot-wallet/rebalances/{rebalance_id}/send", status_code=202)
async def send_to_cold(
    rebalance_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    request: Request,
    actor: Annotated[Actor, requires(Permission.TRANSFERS_SEND)],
    body: hot_cold.SendIn | None = None,
) -> dict[str, Any]:
    """Request sending a proposed hot-to-cold transfer to the configured cold address (four-eyes)."""
    return await hot_cold.request_send(_runtime(request), actor, rebalance_id)


# --- four-eyes -----------------------------------------------------------------------------------------


@router.get("/approvals")
async def list_approvals(
    request: Request,
    _: Annotated[Actor, requires(Permission.APPROVALS_READ)],
    status: Annotated[
        str | None, Query(pattern="^(pending|executing|approved|rejected|expired|failed)$")
    ] = None,
) -> list[dict[str, Any]]:
    """Four-eyes requests, newest first."""
    return await approvals.list_requests(_runtime(request), status=status)


@router.get("/approvals/{approval_id}")
async def get_approval(
    approval_id: int, request: Request, _: Annotated[Actor, requires(Permission.APPROVALS_READ)]
) -> dict[str, Any]:
    """One four-eyes request."""
    return await approvals.get_request(_runtime(request), approval_id)


@router.post("/approvals/{approval_id}/approve")
async def approve(
    approval_id: int, request: Request, actor: Annotated[Actor, requires(Permission.APPROVALS_READ)]
) -> dict[str, Any]:
    """Approve and carry out a request (another admin than the requester, holding the kind's permission)."""
    return await approvals.approve(_runtime(request), actor, approval_id)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: int,
    body: ReasonIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.APPROVALS_READ)],
) -> dict[str, Any]:
    """Reject a request (or withdraw one's own)."""
    return await approvals.reject(_runtime(request), actor, approval_id, body.reason)


# --- audit ---------------------------------------------------------------------------------------------


@router.get("/audit")
async def audit(
    request: Request,
    _: Annotated[Actor, requires(Permission.AUDIT_READ)],
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(gt=0)] = None,
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_LIMIT)] = 100,
) -> list[dict[str, Any]]:
    """Search the audit trail, newest first (page with `before_id`)."""
    return await audit_log.search(
        _runtime(request),
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )


@router.get("/audit/verify")
async def audit_verify(
    request: Request, _: Annotated[Actor, requires(Permission.AUDIT_READ)]
) -> dict[str, Any]:
    """Check the hash chain (as `wcx audit verify` does)."""
    return await audit_log.verify(_runtime(request))


# --- admin accounts ------------------------------------------------------------------------------------


@router.get("/admins")
async def list_admins(
    request: Request, _: Annotated[Actor, requires(Permission.ADMINS_READ)]
) -> list[dict[str, Any]]:
    """Every admin account."""
    return await admins.list_admins(_runtime(request))


@router.post("/admins", status_code=202)
async def create_admin(
    body: admins.AdminCreateIn, request: Request, actor: Annotated[Actor, requires(Permission.ADMINS_MANAGE)]
) -> dict[str, Any]:
    """Request a new admin account (four-eyes); the TOTP secret is in this answer only."""
    return await admins.request_create(_runtime(request), actor, body)


@router.post("/admins/{admin_id}/role", status_code=202)
async def change_role(
    admin_id: int,
    body: admins.RoleIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.ADMINS_MANAGE)],
) -> dict[str, Any]:
    """Request a role change (four-eyes)."""
    return await admins.request_role(_runtime(request), actor, admin_id, body)


@router.post("/admins/{admin_id}/disable")
async def disable_admin(
    admin_id: int, request: Request, actor: Annotated[Actor, requires(Permission.ADMINS_MANAGE)]
) -> dict[str, Any]:
    """Disable an admin account at once."""
    return await admins.set_disabled(_runtime(request), actor, admin_id, True)


@router.post("/admins/{admin_id}/enable", status_code=202)
async def enable_admin(
    admin_id: int, request: Request, actor: Annotated[Actor, requires(Permission.ADMINS_MANAGE)]
) -> dict[str, Any]:
    """Request re-enabling a disabled admin (four-eyes)."""
    return await admins.set_disabled(_runtime(request), actor, admin_id, False)


@router.put("/admins/{admin_id}/ip-allowlist")
async def set_ip_allowlist(
    admin_id: int,
    body: admins.AllowlistIn,
    request: Request,
    actor: Annotated[Actor, requires(Permission.ADMINS_MANAGE)],
) -> dict[str, Any]:
    """Replace an admin's IP allowlist."""
    return await admins.set_allowlist(_runtime(request), actor, admin_id, body)
