"""User operations: search, the full user view, freeze and unfreeze.

Freezing sets `users.frozen` (login, token refresh, every authenticated API call and new withdrawals
refuse a frozen account), drops this process's auth caches so the refusal applies at once, and cancels
the user's open orders through the engine's admin cancel-all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update

from wcx.admin import kyc_cases, withdrawal_queue
from wcx.admin.accounts import Actor, record_action
from wcx.admin.state import admin_state
from wcx.api.auth import auth_state
from wcx.api.auth.accounts import aware
from wcx.api.errors import ApiError
from wcx.engine import CancelAll
from wcx.engine.events import OrderCancelled
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store import queries
from wcx.store.audit import record_audit
from wcx.store.schema import api_keys, audit_events, ledger_entries, sessions, users

LEDGER_KINDS = {
    "deposits": ("deposit",),
    "withdrawals": ("withdrawal_hold", "withdrawal", "withdrawal_release"),
}


def _user_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "frozen": row.frozen,
        "email_verified": row.email_verified_at is not None,
        "created_at": aware(row.created_at).isoformat(),
    }


async def search_users(runtime: Runtime, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Users whose email contains `query` (or whose id it is), newest first."""
    statement = select(users).order_by(users.c.id.desc()).limit(limit)
    query = query.strip().lower()
    if query:
        conditions = [func.lower(users.c.email).contains(query, autoescape=True)]
        if query.isdigit():
            conditions.append(users.c.id == int(query))
        statement = statement.where(or_(*conditions))
    async with runtime.db.connect() as conn:
        return [_user_summary(row) for row in await conn.execute(statement)]


async def _user(runtime: Runtime, user_id: int) -> Any:
    async with runtime.db.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    if row is None:
        raise ApiError(404, "USER_NOT_FOUND", f"no user {user_id}")
    return row


def balances(runtime: Runtime, user_id: int) -> list[dict[str, str]]:
    """The user's balances from the live engine (every asset it holds or ever held)."""
    state = runtime.engine.state
    account = state.accounts.get(user_id)
    if account is None:
        return []
    assets = sorted(set(account.available) | set(account.held))
    return [
        {
            "asset": asset,
            "available": format_amount(account.available.get(asset, 0), state.assets[asset]),
            "held": format_amount(account.held.get(asset, 0), state.assets[asset]),
        }
        for asset in assets
    ]


def _ledger_row(runtime: Runtime, row: Any) -> dict[str, Any]:
    scale = runtime.engine.state.assets.get(row.asset, 0)
    return {
        "seq": row.seq,
        "kind": row.kind,
        "asset": row.asset,
        "available_delta": format_amount(int(row.available_delta), scale),
        "held_delta": format_amount(int(row.held_delta), scale),
        "reference": row.ref,
        "at": aware(row.ts).isoformat(),
    }


async def user_view(runtime: Runtime, user_id: int, limit: int = 50) -> dict[str, Any]:
    """Everything support needs about one user: balances, orders, fills, deposits, withdrawals,
    sessions, API keys and security events (newest first, `limit` of each)."""
    user = await _user(runtime, user_id)
    await runtime.projected()
    orders = await queries.order_history(runtime.db, user_id, limit=limit)
    fills = await queries.fills(runtime.db, user_id, limit=limit)
    subject = f"user:{user_id}"
    async with runtime.db.connect() as conn:
        ledgers = {
            name: [
                _ledger_row(runtime, row)
                for row in await conn.execute(
                    select(ledger_entries)
                    .where(ledger_entries.c.account_id == user_id, ledger_entries.c.kind.in_(kinds))
                    .order_by(ledger_entries.c.seq.desc())
                    .limit(limit)
                )
            ]
            for name, kinds in LEDGER_KINDS.items()
        }
        live_sessions = [
            {
                "id": row.family_id,
                "created_at": aware(row.created_at).isoformat(),
                "expires_at": aware(row.expires_at).isoformat(),
                "ip": row.ip,
                "user_agent": row.user_agent,
            }
            for row in await conn.execute(
                select(sessions)
                .where(
                    sessions.c.user_id == user_id,
                    sessions.c.revoked_at.is_(None),
                    sessions.c.rotated_at.is_(None),
                    sessions.c.expires_at > admin_state(runtime).now(),
                )
                .order_by(sessions.c.created_at.desc())
                .limit(limit)
            )
        ]
        keys = [
            {
                "id": row.id,
                "label": row.label,
                "kind": row.kind,
                "permissions": list(row.permissions),
                "created_at": aware(row.created_at).isoformat(),
                "revoked": row.revoked_at is not None,
            }
            for row in await conn.execute(
                select(api_keys)
                .where(api_keys.c.user_id == user_id)
                .order_by(api_keys.c.id.desc())
                .limit(limit)
            )
        ]
        events = [
            audit_row(row)
            for row in await conn.execute(
                select(audit_events)
                .where(or_(audit_events.c.actor == subject, audit_events.c.target == subject))
                .order_by(audit_events.c.id.desc())
                .limit(limit)
            )
        ]
    return {
        "user": _user_summary(user),
        "kyc": await kyc_cases.user_kyc(runtime, user_id),
        "withdrawal_requests": await withdrawal_queue.of_user(runtime, user_id),
        "balances": balances(runtime, user_id),
        "orders": [_order(runtime, order) for order in orders.items],
        "fills": [_fill(runtime, fill) for fill in fills.items],
        "deposits": ledgers["deposits"],
        "withdrawals": ledgers["withdrawals"],
        "sessions": live_sessions,
        "api_keys": keys,
        "security_events": events,
    }


def _scales(runtime: Runtime, symbol: str) -> tuple[int, int]:
    state = runtime.engine.state
    market = state.markets.get(symbol)
    if market is None:
        return 0, 0
    return state.assets[market.base], state.assets[market.quote]


def _order(runtime: Runtime, order: Any) -> dict[str, Any]:
    base, quote = _scales(runtime, order.symbol)
    return {
        "order_id": order.order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "price": format_amount(order.price, quote),
        "quantity": format_amount(order.quantity, base),
        "filled": format_amount(order.filled, base),
        "created_at": aware(order.created_at).isoformat(),
    }


def _fill(runtime: Runtime, fill: Any) -> dict[str, Any]:
    base, quote = _scales(runtime, fill.symbol)
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "liquidity": fill.liquidity,
        "price": format_amount(fill.price, quote),
        "quantity": format_amount(fill.quantity, base),
        "at": aware(fill.ts).isoformat(),
    }


def audit_row(row: Any) -> dict[str, Any]:
    """An audit record as shown (hashes included, so a reader can check links by hand)."""
    return {
        "id": row.id,
        "at": aware(row.at).isoformat(),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "ip": row.ip,
        "before": (row.details or {}).get("before"),
        "after": (row.details or {}).get("after"),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


async def set_frozen(
    runtime: Runtime, actor: Actor, user_id: int, frozen: bool, reason: str
) -> dict[str, Any]:
    """Freeze (cancelling open orders) or unfreeze a user; 409 when already in that state."""
    state = admin_state(runtime)
    action = "user.freeze" if frozen else "user.unfreeze"
    async with runtime.db.begin() as conn:
        row = (await conn.execute(select(users.c.frozen).where(users.c.id == user_id))).first()
        if row is None:
            raise ApiError(404, "USER_NOT_FOUND", f"no user {user_id}")
        if row.frozen == frozen:
            raise ApiError(409, "ALREADY_FROZEN" if frozen else "NOT_FROZEN", f"user {user_id} is already so")
        await conn.execute(update(users).where(users.c.id == user_id).values(frozen=frozen))
        await record_audit(
            conn,
            actor=actor.name,
            action=action,
            target=f"user:{user_id}",
            ip=actor.ip,
            before={"frozen": row.frozen},
            after={"frozen": frozen, "reason": reason},
            at=state.now(),
        )
    # This process's session and API-key caches must not keep admitting the user for their 5 s TTL.
    api_auth = auth_state(runtime)
    api_auth.sessions.clear()
    api_auth.api_keys.clear()
    cancelled: list[int] = []
    if frozen:
        events = await runtime.submit(CancelAll(user_id, admin=True))
        cancelled = [event.order_id for event in events if isinstance(event, OrderCancelled)]
        after = {"order_ids": cancelled, "reason": "account frozen"}
        await record_action(runtime, actor, "user.orders_cancelled", f"user:{user_id}", after=after)
    return {"user_id": user_id, "frozen": frozen, "cancelled_orders": cancelled}
