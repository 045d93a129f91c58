"""KYC endpoints under /api/v1/kyc: the caller's tier and limits, submissions, document uploads.

The limits other routers enforce live in `wcx.api.kyc_limits`. Reads accept any principal with
`read`; changes need a session (identity documents are not handled through API keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from wcx.api.access import private
from wcx.api.errors import ApiError
from wcx.api.kyc_limits import engine_prices
from wcx.api.principal import Permission, Principal
from wcx.api.public import runtime_of
from wcx.kyc import DocumentView, KycError, LimitsView, PersonalData, Status, SubmissionView, metrics
from wcx.kyc.limits import withdrawal_usage
from wcx.kyc.providers import WebhookProvider
from wcx.primitives import format_amount
from wcx.runtime import Runtime

router = APIRouter(tags=["kyc"])

UPLOAD_PATH = r"/api/v1/kyc/submissions/[0-9]+/documents"
"""Routes whose request bodies may exceed the gateway's default limit (see `upload_limit`)."""
MULTIPART_OVERHEAD = 64 * 1024

_STATUS = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "unavailable": 503,
}

Reader = Annotated[Principal, Depends(private(Permission.READ))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
SubmissionId = Annotated[int, Path(ge=1, le=2**63 - 1)]
DocumentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def upload_limit(runtime: Runtime) -> int:
    """The largest request body the upload route accepts: one document plus multipart framing."""
    return runtime.kyc.config.max_document_bytes + MULTIPART_OVERHEAD


def api_error(exc: KycError) -> ApiError:
    """The API error for a KYC refusal (its code unchanged)."""
    return ApiError(_STATUS.get(exc.kind, 400), exc.code, exc.message)


@asynccontextmanager
async def _kyc_errors() -> AsyncIterator[None]:
    try:
        yield
    except KycError as exc:
        raise api_error(exc) from None


def _session_only(principal: Principal) -> int:
    if principal.api_key_id is not None:
        raise ApiError(403, "KYC_SESSION_REQUIRED", "verification is managed from a logged-in session")
    return principal.user_id


# --- schemas -----------------------------------------------------------------------------------------


class KycStatusOut(BaseModel):
    """The caller's verification: tier, what it allows, what was used, every tier, the newest submission."""

    tier: int
    review_hold: bool
    limits: LimitsView
    withdrawn_24h: str | None
    withdrawn_30d: str | None
    tiers: list[LimitsView]
    submission: SubmissionView | None


class SubmissionIn(BaseModel):
    """A new submission: the tier asked for and any personal data known so far."""

    model_config = ConfigDict(extra="forbid")

    requested_tier: int = Field(ge=1, le=3)
    personal_data: PersonalData = Field(default_factory=PersonalData)


class SubmissionPatch(BaseModel):
    """Changes to a draft (or a submission that needs more information); fields given overwrite."""

    model_config = ConfigDict(extra="forbid")

    requested_tier: int | None = Field(None, ge=1, le=3)
    personal_data: PersonalData | None = None


# --- endpoints -----------------------------------------------------------------------------------------


@router.get("/kyc")
async def kyc_status(principal: Reader, runtime: RuntimeDep) -> KycStatusOut:
    """The caller's tier, its limits and what was withdrawn in the rolling windows."""
    kyc = runtime.kyc
    prices = await engine_prices(runtime)
    scale = kyc.config.reference_scale
    async with runtime.db.connect() as conn, _kyc_errors():
        tier = await kyc.tier_of(conn, principal.user_id)
        hold = await kyc.review_hold(conn, principal.user_id)
        usage = await withdrawal_usage(conn, principal.user_id, prices, kyc.clock())
        submission = await kyc.current_submission(conn, principal.user_id)
    return KycStatusOut(
        tier=tier,
        review_hold=hold,
        limits=kyc.limits_view(tier),
        withdrawn_24h=None if usage.daily is None else format_amount(usage.daily, scale),
        withdrawn_30d=None if usage.monthly is None else format_amount(usage.monthly, scale),
        tiers=[kyc.limits_view(t.level) for t in kyc.config.tiers],
        submission=submission,
    )


@router.post("/kyc/submissions", status_code=201)
async def create_submission(body: SubmissionIn, principal: Reader, runtime: RuntimeDep) -> SubmissionView:
    """Start a submission towards a higher tier (one open submission at a time)."""
    user_id = _session_only(principal)
    async with runtime.db.begin() as conn, _kyc_errors():
        return await runtime.kyc.create_submission(conn, user_id, body.requested_tier, body.personal_data)


@router.get("/kyc/submissions/{submission_id}")
async def get_submission(
    submission_id: SubmissionId, principal: Reader, runtime: RuntimeDep
) -> SubmissionView:
    """One of the caller's submissions (another user's answers 404)."""
    async with runtime.db.connect() as conn, _kyc_errors():
        return await runtime.kyc.get_submission(conn, principal.user_id, submission_id)


@router.patch("/kyc/submissions/{submission_id}")
async def update_submission(
    submission_id: SubmissionId, body: SubmissionPatch, principal: Reader, runtime: RuntimeDep
) -> SubmissionView:
    """Change personal data or the requested tier while the submission is a draft or needs more info."""
    user_id = _session_only(principal)
    async with runtime.db.begin() as conn, _kyc_errors():
        return await runtime.kyc.update_submission(
            conn, user_id, submission_id, body.personal_data, body.requested_tier
        )


@router.post("/kyc/submissions/{submission_id}/documents", status_code=201)
async def upload_document(
    submission_id: SubmissionId,
    principal: Reader,
    runtime: RuntimeDep,
    kind: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File(description="JPEG, PNG or PDF; the type is read from the content")],
) -> DocumentView:
    """Upload one document (multipart: `kind`, `file`); stored encrypted under a generated name."""
    user_id = _session_only(principal)
    limit = runtime.kyc.config.max_document_bytes
    data = await file.read(limit + 1)
    async with runtime.db.begin() as conn, _kyc_errors():
        return await runtime.kyc.add_document(conn, user_id, submission_id, kind, file.filename or "", data)


@router.delete("/kyc/documents/{document_id}", status_code=204)
async def delete_document(document_id: DocumentId, principal: Reader, runtime: RuntimeDep) -> None:
    """Remove a document from a submission that can still be edited."""
    user_id = _session_only(principal)
    async with runtime.db.begin() as conn, _kyc_errors():
        await runtime.kyc.delete_document(conn, user_id, document_id)


@router.post("/kyc/submissions/{submission_id}/submit")
async def submit(submission_id: SubmissionId, principal: Reader, runtime: RuntimeDep) -> SubmissionView:
    """Hand the submission in for review (its requested tier's requirements must be met)."""
    user_id = _session_only(principal)
    async with runtime.db.begin() as conn, _kyc_errors():
        submitted = await runtime.kyc.submit(conn, user_id, submission_id)
    await runtime.kyc.dispatch(runtime.db, submission_id)
    return submitted


class WebhookAck(BaseModel):
    """What the vendor's callback changed."""

    submission_id: int
    status: Status


@router.post("/kyc/webhooks/{provider}")
async def vendor_webhook(
    provider: Annotated[str, Path(max_length=32)], request: Request, runtime: RuntimeDep
) -> WebhookAck:
    """A verification vendor's verdict: HMAC-signed, timestamped, each event id accepted once."""
    adapter = runtime.kyc.provider
    if not isinstance(adapter, WebhookProvider) or adapter.name != provider:
        raise ApiError(404, "NOT_FOUND", "no such webhook")
    body = await request.body()
    try:
        async with _kyc_errors():
            event = adapter.verify(request.headers, body)
            async with runtime.db.begin() as conn:
                case = await runtime.kyc.apply_vendor_event(conn, provider, event)
    except IntegrityError:  # the same event id arriving twice at once: the second insert loses
        metrics.WEBHOOKS.labels("KYC_WEBHOOK_REPLAYED").inc()
        raise ApiError(409, "KYC_WEBHOOK_REPLAYED", "this event was already received") from None
    except ApiError as exc:
        metrics.WEBHOOKS.labels(exc.code).inc()
        raise
    metrics.WEBHOOKS.labels("applied").inc()
    return WebhookAck(submission_id=case.id, status=case.status)
