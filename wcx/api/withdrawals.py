"""Withdrawal endpoints under /api/v1: request, list, get and cancel withdrawals; the address book.

The router composes the sibling contexts: authentication and 2FA (`wcx.api.auth`), the KYC tier's
withdrawal limits (`wcx.api.kyc_limits`, checked inside the pipeline's per-user serialisation right
before the hold) and the pipeline (`wcx.wallet.withdrawals`).
Sessions confirm each withdrawal with a TOTP code; API keys need the `withdraw` permission, which is
only granted with an IP allowlist that every signed request is checked against.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from wcx.api.access import private
from wcx.api.auth.accounts import confirm_totp
from wcx.api.auth.state import auth_state
from wcx.api.deposits import chains_of
from wcx.api.errors import ApiError
from wcx.api.kyc_limits import require_withdrawal_allowed
from wcx.api.principal import Permission, Principal
from wcx.api.public import runtime_of
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store.audit import record_audit
from wcx.wallet.withdrawals import (
    BookEntry,
    State,
    Withdrawal,
    WithdrawalError,
    WithdrawalPolicy,
    WithdrawalRequest,
    WithdrawalSettings,
    service,
)
from wcx.wallet.withdrawals.config import load_policy

router = APIRouter(tags=["withdrawals"])

Reader = Annotated[Principal, Depends(private(Permission.READ))]
Withdrawer = Annotated[Principal, Depends(private(Permission.WITHDRAW))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
WithdrawalId = Annotated[str, Path(min_length=1, max_length=40)]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]

_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}
_CODE_STATUS = {"INSUFFICIENT_FUNDS": 422}
_policies: weakref.WeakKeyDictionary[Runtime, WithdrawalPolicy] = weakref.WeakKeyDictionary()


def policy_of(runtime: Runtime) -> WithdrawalPolicy:
    """The withdrawal policy for this runtime's assets, read once."""
    policy = _policies.get(runtime)
    if policy is None:
        settings = WithdrawalSettings()
        policy = _policies[runtime] = load_policy(
            settings.withdrawals_file, runtime.engine.state.assets, chains_of(runtime)
        )
    return policy


def set_policy(runtime: Runtime, policy: WithdrawalPolicy) -> None:
    """Use `policy` for `runtime` (tests and `wcx serve` wiring)."""
    _policies[runtime] = policy


def api_error(exc: WithdrawalError) -> ApiError:
    """The HTTP answer for a refused withdrawal operation."""
    return ApiError(_CODE_STATUS.get(exc.code, _STATUS[exc.kind]), exc.code, exc.message)


class Strict(BaseModel):
    """Request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class WithdrawalIn(Strict):
    """A withdrawal request; `amount` is what the address receives, the fee is charged on top."""

    asset: str = Field(min_length=1, max_length=16)
    address: str = Field(min_length=1, max_length=128)
    amount: str = Field(min_length=1, max_length=64, examples=["0.25"])
    memo: str = Field("", max_length=128)
    totp_code: str | None = Field(None, max_length=16, description="required for sessions (not API keys)")


class WithdrawalOut(BaseModel):
    """A withdrawal as its owner sees it."""

    id: str
    asset: str
    chain: str
    address: str
    memo: str
    amount: str
    fee: str
    state: State
    reason: str
    approvals: int
    approvals_required: int
    tx_hash: str | None
    confirmations: int
    created_at: datetime
    updated_at: datetime


class AddressIn(Strict):
    """A new address-book entry."""

    asset: str = Field(min_length=1, max_length=16)
    address: str = Field(min_length=1, max_length=128)
    label: str = Field("", max_length=64)
    totp_code: str | None = Field(None, max_length=16, description="required for sessions (not API keys)")


class AddressOut(BaseModel):
    """An address-book entry; withdrawals to it are allowed from `usable_from`."""

    id: int
    asset: str
    address: str
    label: str
    created_at: datetime
    usable_from: datetime


def withdrawal_out(w: Withdrawal, scale: int) -> WithdrawalOut:
    """The wire form of a withdrawal (amounts as decimal strings)."""
    return WithdrawalOut(
        id=w.id,
        asset=w.asset,
        chain=w.chain,
        address=w.address,
        memo=w.memo,
        amount=format_amount(w.amount, scale),
        fee=format_amount(w.fee, scale),
        state=w.state,
        reason=w.reason,
        approvals=w.approvals,
        approvals_required=w.approvals_required,
        tx_hash=w.tx_hash,
        confirmations=w.confirmations,
        created_at=w.created_at,
        updated_at=w.updated_at,
    )


def _out(runtime: Runtime, w: Withdrawal) -> WithdrawalOut:
    return withdrawal_out(w, runtime.engine.state.assets[w.asset])


def _address_out(entry: BookEntry) -> AddressOut:
    return AddressOut(**{name: getattr(entry, name) for name in AddressOut.model_fields})


async def _step_up(runtime: Runtime, principal: Principal, code: str | None) -> None:
    """Sessions confirm with a current TOTP code; signed API-key requests carry their own proof."""
    if principal.api_key_id is None:
        await confirm_totp(runtime.db, auth_state(runtime), principal.user_id, code)


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _audit(
    runtime: Runtime, principal: Principal, request: Request, action: str, after: dict[str, Any]
) -> None:
    """A security event in the hash-chained audit trail (who, from where, what)."""
    actor = f"user:{principal.user_id}" + (f"/key:{principal.api_key_id}" if principal.api_key_id else "")
    async with runtime.db.begin() as conn:
        await record_audit(
            conn,
            actor=actor,
            action=action,
            target=f"user:{principal.user_id}",
            ip=_client_ip(request),
            after=after,
            at=datetime.now(UTC),
        )


@router.post("/withdrawals", status_code=201, response_model=WithdrawalOut)
async def request_withdrawal(
    body: WithdrawalIn, request: Request, principal: Withdrawer, runtime: RuntimeDep
) -> WithdrawalOut:
    """Request a withdrawal: validated, held, then approved automatically or queued for four-eyes."""
    policy = policy_of(runtime)
    await _step_up(runtime, principal, body.totp_code)

    async def kyc_limit(asset: str, total: int) -> None:
        await require_withdrawal_allowed(runtime, principal.user_id, asset, total)

    req = WithdrawalRequest(
        user_id=principal.user_id,
        asset=body.asset,
        address=body.address,
        amount=body.amount,
        memo=body.memo,
        api_key_id=principal.api_key_id,
        ip=_client_ip(request),
    )
    try:
        w = await service.request_withdrawal(runtime.db, runtime, policy, req, before_hold=kyc_limit)
    except WithdrawalError as exc:
        raise api_error(exc) from None
    out = _out(runtime, w)
    await _audit(
        runtime,
        principal,
        request,
        "withdrawal.request",
        {
            "withdrawal": w.id,
            "asset": w.asset,
            "address": w.address,
            "amount": out.amount,
            "state": w.state.value,
        },
    )
    return out


@router.get("/withdrawals", response_model=list[WithdrawalOut])
async def list_withdrawals(
    principal: Reader,
    runtime: RuntimeDep,
    asset: Annotated[str | None, Query(max_length=16)] = None,
    state: State | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST)] = 100,
) -> list[WithdrawalOut]:
    """The caller's withdrawals, newest first."""
    found = await service.list_withdrawals(
        runtime.db, user_id=principal.user_id, asset=asset, state=state, limit=limit
    )
    return [_out(runtime, w) for w in found]


@router.get("/withdrawals/{withdrawal_id}", response_model=WithdrawalOut)
async def get_withdrawal(
    withdrawal_id: WithdrawalId, principal: Reader, runtime: RuntimeDep
) -> WithdrawalOut:
    """One of the caller's withdrawals (another user's answers 404)."""
    try:
        w = await service.get_withdrawal(runtime.db, user_id=principal.user_id, withdrawal_id=withdrawal_id)
    except WithdrawalError as exc:
        raise api_error(exc) from None
    return _out(runtime, w)


@router.post("/withdrawals/{withdrawal_id}/cancel", response_model=WithdrawalOut)
async def cancel_withdrawal(
    withdrawal_id: WithdrawalId, request: Request, principal: Withdrawer, runtime: RuntimeDep
) -> WithdrawalOut:
    """Cancel before signing; the held funds come back."""
    try:
        w = await service.cancel_withdrawal(
            runtime.db, runtime, user_id=principal.user_id, withdrawal_id=withdrawal_id
        )
    except WithdrawalError as exc:
        raise api_error(exc) from None
    await _audit(
        runtime, principal, request, "withdrawal.cancel", {"withdrawal": w.id, "state": w.state.value}
    )
    return _out(runtime, w)


@router.get("/withdrawal-addresses", response_model=list[AddressOut])
async def list_addresses(principal: Reader, runtime: RuntimeDep) -> list[AddressOut]:
    """The caller's address book (once it has an entry, withdrawals go only to its usable entries)."""
    return [_address_out(e) for e in await service.list_addresses(runtime.db, user_id=principal.user_id)]


@router.post("/withdrawal-addresses", status_code=201, response_model=AddressOut)
async def add_address(
    body: AddressIn, request: Request, principal: Withdrawer, runtime: RuntimeDep
) -> AddressOut:
    """Add an address; it becomes usable after the cooling-off delay."""
    await _step_up(runtime, principal, body.totp_code)
    try:
        entry = await service.add_address(
            runtime.db,
            policy_of(runtime),
            user_id=principal.user_id,
            asset=body.asset,
            address=body.address,
            label=body.label,
        )
    except WithdrawalError as exc:
        raise api_error(exc) from None
    after = {
        "entry": entry.id,
        "asset": entry.asset,
        "address": entry.address,
        "usable_from": entry.usable_from,
    }
    await _audit(runtime, principal, request, "withdrawal_address.add", after)
    return _address_out(entry)


@router.delete("/withdrawal-addresses/{entry_id}", status_code=204)
async def remove_address(
    entry_id: EntryId, request: Request, principal: Withdrawer, runtime: RuntimeDep
) -> Response:
    """Remove an address-book entry."""
    try:
        await service.remove_address(runtime.db, user_id=principal.user_id, entry_id=entry_id)
    except WithdrawalError as exc:
        raise api_error(exc) from None
    await _audit(runtime, principal, request, "withdrawal_address.remove", {"entry": entry_id})
    return Response(status_code=204)
