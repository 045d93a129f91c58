"""Withdrawal operations for users and the back office; every state is persisted before its side effect.

Users: `request_withdrawal`, `cancel_withdrawal`, `get_withdrawal`, `list_withdrawals` (always scoped to
the caller). Back office: `list_queue`, `approve`, `reject` (four-eyes: distinct admins). The engine steps
(`ensure_held`, `ensure_released`, `ensure_settled`) are idempotent, so the processor can repeat them
after a crash.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.engine import HoldWithdrawal, ReleaseWithdrawal, SettleWithdrawal
from wcx.engine.events import CommandRejected
from wcx.primitives import AmountError, parse_amount
from wcx.wallet.deposits.tables import deposit_addresses
from wcx.wallet.withdrawals.addresses import canonical_address
from wcx.wallet.withdrawals.config import WithdrawalPolicy
from wcx.wallet.withdrawals.errors import WithdrawalError
from wcx.wallet.withdrawals.records import Ledger, Withdrawal, aware, from_row, load, move, query, utc_now
from wcx.wallet.withdrawals.states import CANCELLABLE, RELEASING, State
from wcx.wallet.withdrawals.tables import withdrawal_addresses, withdrawal_approvals, withdrawals

MAX_MEMO = 128
MAX_LIST = 500
MAX_REASON = 255

BeforeHold = Callable[[str, int], Awaitable[None]]
"""Called with (asset, amount + fee) just before a request is written and held; raises to refuse."""

# One request at a time per user: the daily-limit sum and the hold must not interleave.
_user_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(user_id: int) -> asyncio.Lock:
    lock = _user_locks.get(user_id)
    if lock is None:
        lock = _user_locks[user_id] = asyncio.Lock()
    return lock


@dataclass(frozen=True, slots=True)
class WithdrawalRequest:
    """What a user asked for (amount as the decimal string they sent)."""

    user_id: int
    asset: str
    address: str
    amount: str
    memo: str = ""
    api_key_id: int | None = None
    ip: str | None = None


def new_withdrawal_id() -> str:
    """A fresh, unguessable withdrawal id (also the engine's hold reference)."""
    return "wd_" + secrets.token_hex(16)


# --- engine steps (idempotent) -------------------------------------------------------------------


async def ensure_held(ledger: Ledger, w: Withdrawal) -> str | None:
    """Hold amount + fee in the engine unless already held; the rejection code when refused."""
    state = ledger.engine.state
    if w.id in state.withdrawals:
        return None
    if w.id in state.withdrawal_ids:
        return "already_closed"
    for event in await ledger.submit(HoldWithdrawal(w.id, w.user_id, w.asset, w.amount, w.fee)):
        # A duplicate means a concurrent step held it first: held is held.
        if isinstance(event, CommandRejected) and w.id not in state.withdrawals:
            return event.code.value
    return None


async def ensure_released(ledger: Ledger, w: Withdrawal) -> None:
    """Give the held funds back unless nothing is held any more."""
    if w.id in ledger.engine.state.withdrawals:
        await ledger.submit(ReleaseWithdrawal(w.id))


async def ensure_settled(ledger: Ledger, w: Withdrawal) -> None:
    """Settle the hold (funds leave the exchange) unless already settled."""
    if w.id in ledger.engine.state.withdrawals:
        await ledger.submit(SettleWithdrawal(w.id))


async def release(db: AsyncEngine, ledger: Ledger, w: Withdrawal, now: datetime) -> Withdrawal:
    """rejected / cancelled / failed -> engine release -> released."""
    assert w.state in RELEASING, w.state
    await ensure_released(ledger, w)
    async with db.begin() as conn:
        return await move(conn, w, State.RELEASED, now)


async def decide_approval(
    db: AsyncEngine, policy: WithdrawalPolicy, w: Withdrawal, now: datetime
) -> Withdrawal:
    """held -> approved below the asset's threshold, else -> pending_approval."""
    asset = policy.assets[w.asset]
    target = State.APPROVED if w.amount < asset.auto_approve_below else State.PENDING_APPROVAL
    async with db.begin() as conn:
        return await move(conn, w, target, now, reason="auto" if target is State.APPROVED else "")


# --- users ---------------------------------------------------------------------------------------


def _invalid(code: str, message: str) -> WithdrawalError:
    return WithdrawalError("invalid", code, message)


async def _deposit_address_owner(db: AsyncEngine, chain: str, address: str) -> int | None:
    """The user whose deposit address on `chain` is `address` (canonical form), if any."""
    t = deposit_addresses
    async with db.connect() as conn:
        found = await conn.execute(select(t.c.user_id).where(t.c.chain == chain, t.c.address == address))
        owner = found.scalar()
    return None if owner is None else int(owner)


async def _check_address_book(
    conn: AsyncConnection, user_id: int, asset: str, address: str, now: datetime
) -> None:
    """A user with an address book withdraws only to its entries, once their cooling-off is over."""
    rows = (
        await conn.execute(
            select(withdrawal_addresses.c.address, withdrawal_addresses.c.usable_from).where(
                withdrawal_addresses.c.user_id == user_id, withdrawal_addresses.c.asset == asset
            )
        )
    ).all()
    if not rows:
        return
    usable_from = next((aware(row.usable_from) for row in rows if row.address == address), None)
    if usable_from is None:
        raise WithdrawalError(
            "forbidden", "ADDRESS_NOT_IN_BOOK", "your address book is on: add this address to it first"
        )
    if usable_from > now:
        raise WithdrawalError(
            "forbidden",
            "ADDRESS_COOLING_OFF",
            f"this address becomes usable at {usable_from.isoformat()} (new addresses wait)",
        )


async def request_withdrawal(
    db: AsyncEngine,
    ledger: Ledger,
    policy: WithdrawalPolicy,
    request: WithdrawalRequest,
    *,
    before_hold: BeforeHold | None = None,
    now: datetime | None = None,
) -> Withdrawal:
    """Validate, persist as requested, hold in the engine, then approve or queue for four-eyes.

    `before_hold(asset, amount + fee)` runs right before the row and the hold, serialised per user: the
    API layer checks the KYC tier's limits there and raises its own error. Any refusal leaves neither a
    row nor a hold behind.
    """
    now = now or utc_now()
    asset = policy.assets.get(request.asset)
    if asset is None:
        raise _invalid("UNKNOWN_ASSET", f"{request.asset!r} cannot be withdrawn")
    try:
        amount = parse_amount(request.amount, asset.scale)
    except AmountError as exc:
        raise _invalid(exc.code.upper(), str(exc)) from None
    address = canonical_address(asset.kind, asset.network, request.address)
    if len(request.memo) > MAX_MEMO:
        raise _invalid("INVALID_MEMO", f"memo is longer than {MAX_MEMO} characters")
    if address == asset.cold_address or await _deposit_address_owner(db, asset.chain, address) is not None:
        raise _invalid("OWN_ADDRESS", "that address belongs to this exchange; trade or transfer internally")
    if amount < asset.minimum:
        raise _invalid(
            "BELOW_MINIMUM", f"the minimum {asset.asset} withdrawal is {asset.minimum} minor units"
        )
    async with _lock(request.user_id):
        async with db.begin() as conn:
            await _check_address_book(conn, request.user_id, asset.asset, address, now)
            if ledger.engine.state.balance(request.user_id, asset.asset)[0] < amount + asset.fee:
                raise WithdrawalError("forbidden", "INSUFFICIENT_FUNDS", "available balance < amount + fee")
        if before_hold is not None:
            await before_hold(asset.asset, amount + asset.fee)
        async with db.begin() as conn:
            withdrawal_id = new_withdrawal_id()
            await conn.execute(
                insert(withdrawals).values(
                    id=withdrawal_id,
                    user_id=request.user_id,
                    asset=asset.asset,
                    chain=asset.chain,
                    address=address,
                    memo=request.memo,
                    amount=amount,
                    fee=asset.fee,
                    state=State.REQUESTED.value,
                    reason="",
                    approvals_required=policy.approvals_required,
                    api_key_id=request.api_key_id,
                    ip=request.ip,
                    confirmations=0,
                    attempts=0,
                    last_error="",
                    created_at=now,
                    updated_at=now,
                )
            )
        w = await load_committed(db, withdrawal_id)
        refused = await ensure_held(ledger, w)
        if refused is not None:
            # Nothing was held: the request leaves no trace but the engine's rejection count.
            async with db.begin() as conn:
                await conn.execute(withdrawals.delete().where(withdrawals.c.id == withdrawal_id))
            raise WithdrawalError("forbidden", refused.upper(), "the engine refused the hold")
        async with db.begin() as conn:
            w = await move(conn, w, State.HELD, now)
    return await decide_approval(db, policy, w, now)


async def load_committed(db: AsyncEngine, withdrawal_id: str) -> Withdrawal:
    """The withdrawal with this id (it must exist)."""
    async with db.connect() as conn:
        w = await load(conn, withdrawal_id)
    if w is None:
        raise WithdrawalError("not_found", "UNKNOWN_WITHDRAWAL", "no such withdrawal")
    return w


async def get_withdrawal(db: AsyncEngine, *, user_id: int, withdrawal_id: str) -> Withdrawal:
    """The caller's withdrawal; another user's is indistinguishable from a missing one."""
    async with db.connect() as conn:
        w = await load(conn, withdrawal_id)
    if w is None or w.user_id != user_id:
        raise WithdrawalError("not_found", "UNKNOWN_WITHDRAWAL", "no such withdrawal")
    return w


async def list_withdrawals(
    db: AsyncEngine, *, user_id: int, asset: str | None = None, state: State | None = None, limit: int = 100
) -> list[Withdrawal]:
    """The caller's withdrawals, newest first."""
    conditions = [withdrawals.c.user_id == user_id]
    if asset is not None:
        conditions.append(withdrawals.c.asset == asset)
    if state is not None:
        conditions.append(withdrawals.c.state == state.value)
    statement = query().where(and_(*conditions)).order_by(withdrawals.c.created_at.desc(), withdrawals.c.id)
    async with db.connect() as conn:
        rows = await conn.execute(statement.limit(min(max(limit, 1), MAX_LIST)))
        return [from_row(row) for row in rows]


async def cancel_withdrawal(
    db: AsyncEngine, ledger: Ledger, *, user_id: int, withdrawal_id: str, now: datetime | None = None
) -> Withdrawal:
    """The owner cancels before signing: cancelled -> engine release -> released."""
    now = now or utc_now()
    w = await get_withdrawal(db, user_id=user_id, withdrawal_id=withdrawal_id)
    if w.state not in CANCELLABLE:
        raise WithdrawalError(
            "conflict", "NOT_CANCELLABLE", f"a {w.state.value} withdrawal cannot be cancelled"
        )
    async with db.begin() as conn:
        w = await move(conn, w, State.CANCELLED, now, reason="user")
    return await release(db, ledger, w, now)


# --- address book ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookEntry:
    """An address-book entry; usable for withdrawals from `usable_from`."""

    id: int
    asset: str
    address: str
    label: str
    created_at: datetime
    usable_from: datetime


async def add_address(
    db: AsyncEngine,
    policy: WithdrawalPolicy,
    *,
    user_id: int,
    asset: str,
    address: str,
    label: str = "",
    now: datetime | None = None,
) -> BookEntry:
    """Add a validated address; it can receive withdrawals after the cooling-off delay."""
    now = now or utc_now()
    spec = policy.assets.get(asset)
    if spec is None:
        raise _invalid("UNKNOWN_ASSET", f"{asset!r} cannot be withdrawn")
    canonical = canonical_address(spec.kind, spec.network, address)
    if len(label) > 64:
        raise _invalid("INVALID_LABEL", "label is longer than 64 characters")
    usable_from = now + timedelta(seconds=policy.address_cooling_off_s)
    try:
        async with db.begin() as conn:
            result = await conn.execute(
                insert(withdrawal_addresses).values(
                    user_id=user_id,
                    asset=asset,
                    address=canonical,
                    label=label,
                    created_at=now,
                    usable_from=usable_from,
                )
            )
            entry_id = int(result.inserted_primary_key[0])
    except IntegrityError:
        raise WithdrawalError("conflict", "ADDRESS_EXISTS", "this address is already in your book") from None
    return BookEntry(entry_id, asset, canonical, label, now, usable_from)


async def list_addresses(db: AsyncEngine, *, user_id: int) -> list[BookEntry]:
    """The caller's address book."""
    t = withdrawal_addresses
    async with db.connect() as conn:
        rows = await conn.execute(select(t).where(t.c.user_id == user_id).order_by(t.c.id))
        return [
            BookEntry(
                row.id, row.asset, row.address, row.label, aware(row.created_at), aware(row.usable_from)
            )
            for row in rows
        ]


async def remove_address(db: AsyncEngine, *, user_id: int, entry_id: int) -> None:
    """Delete one of the caller's entries (another user's is 'not found')."""
    t = withdrawal_addresses
    async with db.begin() as conn:
        result = await conn.execute(t.delete().where(t.c.id == entry_id, t.c.user_id == user_id))
    if result.rowcount != 1:
        raise WithdrawalError("not_found", "UNKNOWN_ADDRESS", "no such address-book entry")


# --- back office -------------------------------------------------------------------------------------


async def list_queue(db: AsyncEngine, *, limit: int = 100) -> list[Withdrawal]:
    """Withdrawals waiting for four-eyes approval, oldest first."""
    statement = query().where(withdrawals.c.state == State.PENDING_APPROVAL.value)
    async with db.connect() as conn:
        rows = await conn.execute(
            statement.order_by(withdrawals.c.created_at).limit(min(max(limit, 1), MAX_LIST))
        )
        return [from_row(row) for row in rows]


async def approvers(db: AsyncEngine, withdrawal_id: str) -> list[str]:
    """Admins who approved this withdrawal, in order."""
    t = withdrawal_approvals
    async with db.connect() as conn:
        rows = await conn.execute(
            select(t.c.admin_id)
            .where(t.c.withdrawal_id == withdrawal_id, t.c.decision == "approve")
            .order_by(t.c.at)
        )
        return [row.admin_id for row in rows]


async def _pending(conn: AsyncConnection, withdrawal_id: str) -> Withdrawal:
    w = await load(conn, withdrawal_id)
    if w is None:
        raise WithdrawalError("not_found", "UNKNOWN_WITHDRAWAL", "no such withdrawal")
    if w.state is not State.PENDING_APPROVAL:
        raise WithdrawalError("conflict", "NOT_PENDING_APPROVAL", f"the withdrawal is {w.state.value}")
    return w


async def approve(
    db: AsyncEngine, withdrawal_id: str, admin_id: int | str, *, now: datetime | None = None
) -> Withdrawal:
    """Record one admin's approval; the last required distinct approver moves it to approved."""
    now = now or utc_now()
    admin = str(admin_id)
    async with db.begin() as conn:
        w = await _pending(conn, withdrawal_id)
        seen = await conn.execute(
            select(func.count()).where(
                withdrawal_approvals.c.withdrawal_id == withdrawal_id,
                withdrawal_approvals.c.admin_id == admin,
            )
        )
        if seen.scalar_one():
            raise WithdrawalError(
                "forbidden", "SAME_APPROVER", "four-eyes: a second approval must come from another admin"
            )
        await conn.execute(
            insert(withdrawal_approvals).values(
                withdrawal_id=withdrawal_id, admin_id=admin, decision="approve", reason="", at=now
            )
        )
        w = await load(conn, withdrawal_id)
        assert w is not None
        if w.approvals >= w.approvals_required:
            w = await move(conn, w, State.APPROVED, now, reason="four_eyes")
    return w


async def reject(
    db: AsyncEngine,
    ledger: Ledger,
    withdrawal_id: str,
    admin_id: int | str,
    reason: str,
    *,
    now: datetime | None = None,
) -> Withdrawal:
    """One admin rejects a queued withdrawal: rejected -> engine release -> released."""
    now = now or utc_now()
    if not reason.strip() or len(reason) > MAX_REASON:
        raise _invalid("INVALID_REASON", f"give a reason of 1..{MAX_REASON} characters")
    async with db.begin() as conn:
        w = await _pending(conn, withdrawal_id)
        await conn.execute(
            insert(withdrawal_approvals).values(
                withdrawal_id=withdrawal_id, admin_id=str(admin_id), decision="reject", reason=reason, at=now
            )
        )
        w = await move(conn, w, State.REJECTED, now, reason="back_office")
    return await release(db, ledger, w, now)
