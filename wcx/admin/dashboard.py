"""The dashboard: server-rendered pages (Jinja2) with htmx for in-place actions, no front-end build.

Pages call the same services as the JSON API and declare their permission the same way, so the
permission matrix covers them too. The session travels in an HttpOnly SameSite=Strict cookie; every
change sends the anti-CSRF token the page carries (htmx adds it as a header from <body hx-headers>).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from wcx.admin import (
    accounts,
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
from wcx.admin.api import document_response
from wcx.admin.guard import COOKIE, client_ip, requires
from wcx.admin.permissions import Permission, allowed
from wcx.admin.state import admin_state
from wcx.api.errors import ApiError
from wcx.engine import MarketStatus
from wcx.runtime import Runtime

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=255)]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def render(
    request: Request, name: str, actor: Actor | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A template with the signed-in admin, its CSRF token and a `can(permission)` helper."""
    state = admin_state(_runtime(request))
    return templates.TemplateResponse(
        request,
        name,
        {
            "actor": actor,
            "csrf": actor.csrf(state) if actor is not None else "",
            "can": (lambda p: allowed(actor.role, Permission(p))) if actor is not None else (lambda p: False),
            "htmx": request.headers.get("hx-request") == "true",
            **context,
        },
        status_code=status_code,
    )


def error_page(request: Request, exc: ApiError, *, htmx: bool) -> HTMLResponse:
    """An error as the dashboard shows it: into the flash area for htmx, else a small page."""
    response = templates.TemplateResponse(
        request,
        "error_fragment.html" if htmx else "error.html",
        {"error": exc, "actor": None, "csrf": "", "can": lambda p: False},
        status_code=exc.status,
    )
    if htmx:
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def _reason(request: Request, typed: str, *, required: bool) -> str:
    """A reason from the form or htmx's prompt (HX-Prompt); 422 INVALID_REASON if required and empty."""
    reason = (typed or request.headers.get("hx-prompt", "")).strip()[:500]
    if required and not reason:
        raise ApiError(422, "INVALID_REASON", "give a reason")
    return reason


# --- sign-in -------------------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    """The sign-in form (email, password, authenticator code)."""
    return render(request, "login.html", None)


@router.post("/login")
async def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    totp_code: Annotated[str, Form(max_length=12)],
) -> Response:
    """Check the credentials; on success set the session cookie and go to the overview."""
    runtime = _runtime(request)
    state = admin_state(runtime)
    try:
        token = await accounts.login(
            runtime.db,
            state,
            email=email,
            password=password,
            totp_code=totp_code,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    except ApiError as exc:
        return render(request, "login.html", None, status_code=exc.status, error=exc, email=email)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=state.admin.session_max_s,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, actor: Annotated[Actor, requires(Permission.SELF)]) -> Response:
    """End the session and return to the sign-in page."""
    runtime = _runtime(request)
    await accounts.logout(runtime.db, admin_state(runtime), actor)
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request, actor: Annotated[Actor, requires(Permission.SELF)]) -> HTMLResponse:
    """Overview: pending four-eyes requests and market states."""
    runtime = _runtime(request)
    pending = await approvals.list_requests(runtime, status="pending")
    return render(request, "home.html", actor, pending=pending, markets=markets.list_markets(runtime))


# --- users ---------------------------------------------------------------------------------------------


@router.get("/users")
async def users_page(
    request: Request,
    actor: Annotated[Actor, requires(Permission.USERS_READ)],
    q: Annotated[str, Query(max_length=254)] = "",
) -> HTMLResponse:
    """User search (the result table alone for htmx's search-as-you-type)."""
    found = await users.search_users(_runtime(request), q)
    name = "users_rows.html" if request.headers.get("hx-request") == "true" else "users.html"
    return render(request, name, actor, users=found, q=q)


@router.get("/users/{user_id}")
async def user_page(
    user_id: int, request: Request, actor: Annotated[Actor, requires(Permission.USERS_READ)]
) -> HTMLResponse:
    """One user: balances, orders, fills, deposits, withdrawals, sessions, keys, security events."""
    view = await users.user_view(_runtime(request), user_id)
    return render(
        request, "user.html", actor, view=view, assets=sorted(_runtime(request).engine.state.assets)
    )


async def _freeze_toggle(
    request: Request, actor: Actor, user_id: int, frozen: bool, reason: str
) -> HTMLResponse:
    result = await users.set_frozen(_runtime(request), actor, user_id, frozen, reason)
    view = await users.user_view(_runtime(request), user_id)
    return render(request, "user_status.html", actor, view=view, result=result)


@router.post("/users/{user_id}/freeze")
async def freeze(
    user_id: int,
    request: Request,
    actor: Annotated[Actor, requires(Permission.USERS_FREEZE)],
    reason: Text = "",
) -> HTMLResponse:
    """Freeze the user (open orders cancelled)."""
    return await _freeze_toggle(request, actor, user_id, True, reason)


@router.post("/users/{user_id}/unfreeze")
async def unfreeze(
    user_id: int,
    request: Request,
    actor: Annotated[Actor, requires(Permission.USERS_FREEZE)],
    reason: Text = "",
) -> HTMLResponse:
    """Lift the freeze."""
    return await _freeze_toggle(request, actor, user_id, False, reason)


@router.post("/funds/credits")
async def credit(
    request: Request,
    actor: Annotated[Actor, requires(Permission.FUNDS_CREDIT)],
    user_id: Annotated[int, Form(gt=0)],
    asset: Annotated[str, Form(max_length=12)],
    amount: Annotated[str, Form(max_length=40)],
    reference: Annotated[str, Form(max_length=64)],
) -> HTMLResponse:
    """Request a wire credit (four-eyes)."""
    body = funds.CreditIn(user_id=user_id, asset=asset, amount=amount, reference=reference)
    request_row = await funds.request_credit(_runtime(request), actor, body)
    return render(request, "requested.html", actor, request_row=request_row)


# --- KYC ----------------------------------------------------------------------------------------------


@router.get("/kyc")
async def kyc_page(request: Request, actor: Annotated[Actor, requires(Permission.KYC_READ)]) -> HTMLResponse:
    """The review queue, oldest first."""
    return render(request, "kyc_queue.html", actor, queue=await kyc_cases.queue(_runtime(request)))


@router.get("/kyc/{submission_id}")
async def kyc_case_page(
    submission_id: int, request: Request, actor: Annotated[Actor, requires(Permission.KYC_READ)]
) -> HTMLResponse:
    """One case with its documents shown inline (images; PDFs in the browser's viewer)."""
    case = await kyc_cases.case(_runtime(request), submission_id)
    return render(request, "kyc_case.html", actor, case=case)


@router.get("/kyc/documents/{document_id}")
async def kyc_document(
    document_id: int, request: Request, _: Annotated[Actor, requires(Permission.KYC_READ)]
) -> Response:
    """A document's bytes for the viewer."""
    return document_response(*await kyc_cases.document(_runtime(request), document_id))


@router.post("/kyc/{submission_id}/decision")
async def kyc_decide(
    submission_id: int,
    request: Request,
    actor: Annotated[Actor, requires(Permission.KYC_DECIDE)],
    decision: Annotated[kyc_cases.Decision, Form()],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    """Approve, reject or ask for more information; answers the case's updated status block."""
    required = decision is not kyc_cases.Decision.APPROVE
    body = kyc_cases.DecisionIn(decision=decision, reason=_reason(request, reason, required=required))
    case = await kyc_cases.decide(_runtime(request), actor, submission_id, body)
    return render(request, "kyc_status.html", actor, case=case)


@router.post("/kyc/hits/{hit_id}/resolve")
async def kyc_resolve_hit(
    hit_id: int,
    request: Request,
    actor: Annotated[Actor, requires(Permission.KYC_DECIDE)],
    outcome: Annotated[str, Form(pattern="^(clear|confirm)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    """Clear a screening hit as a false positive or confirm it as a true match; answers its row."""
    body = kyc_cases.HitResolutionIn(
        confirmed=outcome == "confirm", reason=_reason(request, reason, required=True)
    )
    hit = await kyc_cases.resolve_hit(_runtime(request), actor, hit_id, body)
    return render(request, "kyc_hit_row.html", actor, h=hit)


# --- withdrawals ---------------------------------------------------------------------------------------


@router.get("/withdrawals")
async def withdrawals_page(
    request: Request, actor: Annotated[Actor, requires(Permission.WITHDRAWALS_READ)]
) -> HTMLResponse:
    """Withdrawals waiting for four-eyes approval."""
    return render(request, "withdrawals.html", actor, queue=await withdrawal_queue.queue(_runtime(request)))


@router.post("/withdrawals/{withdrawal_id}/approve")
async def withdrawal_approve(
    withdrawal_id: str, request: Request, actor: Annotated[Actor, requires(Permission.WITHDRAWALS_DECIDE)]
) -> HTMLResponse:
    """Add this admin's approval; answers the updated row."""
    item = await withdrawal_queue.approve(_runtime(request), actor, withdrawal_id)
    return render(request, "withdrawal_row.html", actor, w=item)


@router.post("/withdrawals/{withdrawal_id}/reject")
async def withdrawal_reject(
    withdrawal_id: str,
    request: Request,
    actor: Annotated[Actor, requires(Permission.WITHDRAWALS_DECIDE)],
    reason: Text = "",
) -> HTMLResponse:
    """Refuse a queued withdrawal; answers the updated row."""
    body = withdrawal_queue.RejectIn(reason=_reason(request, reason, required=True))
    item = await withdrawal_queue.reject(_runtime(request), actor, withdrawal_id, body)
    return render(request, "withdrawal_row.html", actor, w=item)


@router.get("/deposits")
async def deposits_page(
    request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_READ)]
) -> HTMLResponse:
    """On-chain deposits that need an operator (held, reorged, refused)."""
    return render(
        request, "deposits.html", actor, deposits=await deposits_review.attention(_runtime(request))
    )


@router.post("/deposits/{deposit_id}/release")
async def release_deposit(
    deposit_id: int, request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_CREDIT)]
) -> HTMLResponse:
    """Request crediting a held deposit (four-eyes)."""
    request_row = await deposits_review.request_release(_runtime(request), actor, deposit_id)
    return render(request, "requested.html", actor, request_row=request_row)


@router.get("/hot-wallet")
async def hot_wallet_page(
    request: Request, actor: Annotated[Actor, requires(Permission.FUNDS_READ)]
) -> HTMLResponse:
    """Hot/cold records: proposals to send to cold storage, requests for the ceremony, transfers."""
    return render(request, "hot_wallet.html", actor, records=await hot_cold.rebalances(_runtime(request)))


@router.post("/hot-wallet/{rebalance_id}/send")
async def send_to_cold(
    rebalance_id: int, request: Request, actor: Annotated[Actor, requires(Permission.TRANSFERS_SEND)]
) -> HTMLResponse:
    """Request sending a proposal to the configured cold address (four-eyes)."""
    request_row = await hot_cold.request_send(_runtime(request), actor, rebalance_id)
    return render(request, "requested.html", actor, request_row=request_row)


# --- markets and fees ----------------------------------------------------------------------------------


@router.get("/markets")
async def markets_page(
    request: Request, actor: Annotated[Actor, requires(Permission.MARKETS_READ)]
) -> HTMLResponse:
    """Markets with their status and controls."""
    return render(request, "markets.html", actor, markets=markets.list_markets(_runtime(request)))


@router.post("/markets/{symbol}/status")
async def market_status(
    symbol: str,
    request: Request,
    actor: Annotated[Actor, requires(Permission.MARKETS_CONTROL)],
    status: Annotated[MarketStatus, Form()],
) -> HTMLResponse:
    """Halt, make cancel-only or resume one market; answers its updated row."""
    market = await markets.set_status(_runtime(request), actor, symbol, status)
    return render(request, "market_row.html", actor, market=market)


@router.post("/markets")
async def create_market(
    request: Request,
    actor: Annotated[Actor, requires(Permission.MARKETS_CREATE)],
    base: Annotated[str, Form(max_length=12)],
    quote: Annotated[str, Form(max_length=12)],
    tick_size: Annotated[str, Form(max_length=40)],
    lot_step: Annotated[str, Form(max_length=40)],
    min_quantity: Annotated[str, Form(max_length=40)],
    max_quantity: Annotated[str, Form(max_length=40)],
    min_notional: Annotated[str, Form(max_length=40)] = "0",
) -> HTMLResponse:
    """Request a new market (four-eyes; it opens halted)."""
    spec = markets.MarketSpecIn(
        symbol=f"{base.strip().upper()}-{quote.strip().upper()}",
        base=base.strip().upper(),
        quote=quote.strip().upper(),
        tick_size=tick_size.strip(),
        lot_step=lot_step.strip(),
        min_quantity=min_quantity.strip(),
        max_quantity=max_quantity.strip(),
        min_notional=min_notional.strip() or "0",
    )
    request_row = await markets.request_market(_runtime(request), actor, spec)
    return render(request, "requested.html", actor, request_row=request_row)


@router.get("/fees")
async def fees_page(
    request: Request, actor: Annotated[Actor, requires(Permission.FEES_READ)]
) -> HTMLResponse:
    """The fee schedule and overrides, with the change form."""
    return render(request, "fees.html", actor, fees=markets.fee_view(_runtime(request)))


@router.post("/fees")
async def change_fees(
    request: Request,
    actor: Annotated[Actor, requires(Permission.FEES_CHANGE)],
    maker_bps: Annotated[int, Form(ge=0, le=1000)],
    taker_bps: Annotated[int, Form(ge=0, le=1000)],
    user_id: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """Request a fee change (four-eyes)."""
    if user_id.strip() and not user_id.strip().isdigit():
        raise ApiError(422, "INVALID_REQUEST", "user id must be a number (or empty for the default schedule)")
    change = markets.FeeChangeIn(
        maker_bps=maker_bps, taker_bps=taker_bps, user_id=int(user_id) if user_id.strip() else None
    )
    request_row = await markets.request_fees(_runtime(request), actor, change)
    return render(request, "requested.html", actor, request_row=request_row)


# --- four-eyes -----------------------------------------------------------------------------------------


@router.get("/approvals")
async def approvals_page(
    request: Request, actor: Annotated[Actor, requires(Permission.APPROVALS_READ)]
) -> HTMLResponse:
    """Pending requests to approve, and the recent decided ones."""
    runtime = _runtime(request)
    pending = await approvals.list_requests(runtime, status="pending")
    recent = [r for r in await approvals.list_requests(runtime, limit=50) if r["status"] != "pending"]
    return render(request, "approvals.html", actor, pending=pending, recent=recent)


@router.post("/approvals/{approval_id}/approve")
async def approve(
    approval_id: int, request: Request, actor: Annotated[Actor, requires(Permission.APPROVALS_READ)]
) -> HTMLResponse:
    """Approve (and carry out) a request; answers its updated row."""
    row = await approvals.approve(_runtime(request), actor, approval_id)
    return render(request, "approval_row.html", actor, item=row)


@router.post("/approvals/{approval_id}/reject")
async def reject(
    approval_id: int,
    request: Request,
    actor: Annotated[Actor, requires(Permission.APPROVALS_READ)],
    reason: Text = "",
) -> HTMLResponse:
    """Reject a request; answers its updated row."""
    row = await approvals.reject(
        _runtime(request), actor, approval_id, _reason(request, reason, required=False)
    )
    return render(request, "approval_row.html", actor, item=row)


# --- audit ---------------------------------------------------------------------------------------------


@router.get("/audit")
async def audit_page(
    request: Request,
    actor: Annotated[Actor, requires(Permission.AUDIT_READ)],
    who: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target: Annotated[str, Query(max_length=128)] = "",
    before_id: Annotated[int | None, Query(gt=0)] = None,
) -> HTMLResponse:
    """The audit trail, filterable, 100 records a page, with the chain's verdict."""
    runtime = _runtime(request)
    records = await audit_log.search(
        runtime, actor=who or None, action=action or None, target=target or None, before_id=before_id
    )
    verdict = await audit_log.verify(runtime)
    return render(
        request, "audit.html", actor, records=records, verdict=verdict, who=who, action=action, target=target
    )
