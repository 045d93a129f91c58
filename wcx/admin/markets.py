"""Market controls and fee schedules: status changes at once (an operator halts in an emergency),
new markets and fee changes through four-eyes requests. All of it goes through the engine's commands."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from wcx.admin.accounts import Actor, record_action
from wcx.admin.approvals import Kind, register, request_change
from wcx.admin.engine_calls import asset_scale, submit_checked, units
from wcx.admin.permissions import Permission
from wcx.api.errors import ApiError
from wcx.engine import AddMarket, MarketStatus, SetFeeSchedule, SetMarketStatus
from wcx.engine.admin import MAX_FEE_BPS
from wcx.primitives import format_amount
from wcx.runtime import Runtime

_SYMBOL = re.compile(r"[A-Z0-9]{1,12}-[A-Z0-9]{1,12}")


class MarketSpecIn(BaseModel):
    """A new market; sizes as decimal strings in the base asset, prices and notional in the quote."""

    symbol: str = Field(max_length=32)
    base: str = Field(max_length=12)
    quote: str = Field(max_length=12)
    tick_size: str = Field(max_length=40)
    lot_step: str = Field(max_length=40)
    min_quantity: str = Field(max_length=40)
    max_quantity: str = Field(max_length=40)
    min_notional: str = Field("0", max_length=40)
    status: MarketStatus = MarketStatus.HALTED


class FeeChangeIn(BaseModel):
    """Default fees (no user_id), one user's override, or clearing that override."""

    maker_bps: int = Field(ge=0, le=MAX_FEE_BPS)
    taker_bps: int = Field(ge=0, le=MAX_FEE_BPS)
    user_id: int | None = Field(None, gt=0)
    clear: bool = False


def market_view(runtime: Runtime, symbol: str) -> dict[str, Any]:
    """A market's specification and status (decimal strings)."""
    state = runtime.engine.state
    market = state.markets.get(symbol)
    if market is None:
        raise ApiError(404, "UNKNOWN_MARKET", f"no market {symbol!r}")
    base, quote = state.assets[market.base], state.assets[market.quote]
    return {
        "symbol": market.symbol,
        "base": market.base,
        "quote": market.quote,
        "status": market.status.value,
        "tick_size": format_amount(market.tick_size, quote),
        "lot_step": format_amount(market.lot_step, base),
        "min_quantity": format_amount(market.min_quantity, base),
        "max_quantity": format_amount(market.max_quantity, base),
        "min_notional": format_amount(market.min_notional, quote),
    }


def list_markets(runtime: Runtime) -> list[dict[str, Any]]:
    """Every market, by symbol."""
    return [market_view(runtime, symbol) for symbol in sorted(runtime.engine.state.markets)]


async def set_status(runtime: Runtime, actor: Actor, symbol: str, status: MarketStatus) -> dict[str, Any]:
    """Halt, make cancel-only or resume a market at once (one operator; the audit says who)."""
    before = market_view(runtime, symbol)["status"]
    await submit_checked(runtime, SetMarketStatus(symbol, status))
    await record_action(
        runtime,
        actor,
        action="market.status",
        target=f"market:{symbol}",
        before={"status": before},
        after={"status": status.value},
    )
    return market_view(runtime, symbol)


def _market_command(runtime: Runtime, spec: MarketSpecIn) -> AddMarket:
    """Validate a market spec against the engine's assets (422/404/409 with a code; nothing changes)."""
    if not _SYMBOL.fullmatch(spec.symbol) or spec.symbol != f"{spec.base}-{spec.quote}":
        raise ApiError(422, "INVALID_MARKET_SPEC", "symbol must be BASE-QUOTE in capitals")
    if spec.symbol in runtime.engine.state.markets:
        raise ApiError(409, "MARKET_EXISTS", f"market {spec.symbol} exists")
    base, quote = asset_scale(runtime, spec.base), asset_scale(runtime, spec.quote)
    command = AddMarket(
        spec.symbol,
        spec.base,
        spec.quote,
        tick_size=units(spec.tick_size, quote, field="tick_size"),
        lot_step=units(spec.lot_step, base, field="lot_step"),
        min_quantity=units(spec.min_quantity, base, field="min_quantity"),
        max_quantity=units(spec.max_quantity, base, field="max_quantity"),
        min_notional=0
        if spec.min_notional in ("0", "")
        else units(spec.min_notional, quote, field="min_notional"),
        status=spec.status,
    )
    if command.max_quantity < command.min_quantity or command.min_quantity % command.lot_step:
        raise ApiError(422, "INVALID_MARKET_SPEC", "quantities must be multiples of lot_step, min <= max")
    if command.max_quantity % command.lot_step or (command.tick_size * command.lot_step) % 10**base:
        raise ApiError(422, "INVALID_MARKET_SPEC", "tick_size × lot_step must be a whole quote unit")
    return command


async def request_market(runtime: Runtime, actor: Actor, spec: MarketSpecIn) -> dict[str, Any]:
    """Ask for a new market (four-eyes); validated now and again when approved."""
    _market_command(runtime, spec)
    summary = f"create market {spec.symbol} ({spec.status.value})"
    return await request_change(runtime, actor, "market.create", spec.model_dump(mode="json"), summary)


async def _create_market(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    await submit_checked(runtime, _market_command(runtime, MarketSpecIn(**payload)))
    view = market_view(runtime, payload["symbol"])
    await record_action(
        runtime,
        actor,
        action="market.create",
        target=f"market:{view['symbol']}",
        after={**view, "approval": approval_id},
    )
    return view


def fee_view(runtime: Runtime) -> dict[str, Any]:
    """The default fee schedule and every per-user override (basis points)."""
    state = runtime.engine.state
    maker, taker = state.default_fees
    return {
        "default": {"maker_bps": maker, "taker_bps": taker},
        "overrides": [
            {"user_id": account, "maker_bps": fees[0], "taker_bps": fees[1]}
            for account, fees in sorted(state.fee_overrides.items())
        ],
    }


def _fees_of(runtime: Runtime, user_id: int | None) -> dict[str, int] | None:
    state = runtime.engine.state
    if user_id is None:
        fees: tuple[int, int] | None = state.default_fees
    else:
        fees = state.fee_overrides.get(user_id)
    return None if fees is None else {"maker_bps": fees[0], "taker_bps": fees[1]}


async def request_fees(runtime: Runtime, actor: Actor, change: FeeChangeIn) -> dict[str, Any]:
    """Ask for a fee schedule change (four-eyes)."""
    if change.clear and change.user_id is None:
        raise ApiError(422, "INVALID_FEE", "clear applies to one user's override: give user_id")
    who = "default" if change.user_id is None else f"user {change.user_id}"
    what = "clear override" if change.clear else f"maker {change.maker_bps} bps, taker {change.taker_bps} bps"
    return await request_change(
        runtime, actor, "fees.set", change.model_dump(mode="json"), f"fees {who}: {what}"
    )


async def _set_fees(
    runtime: Runtime, actor: Actor, payload: dict[str, Any], approval_id: int
) -> dict[str, Any]:
    change = FeeChangeIn(**payload)
    before = _fees_of(runtime, change.user_id)
    await submit_checked(
        runtime,
        SetFeeSchedule(change.maker_bps, change.taker_bps, account=change.user_id, clear=change.clear),
    )
    after = _fees_of(runtime, change.user_id)
    await record_action(
        runtime,
        actor,
        action="fees.set",
        target="fees:default" if change.user_id is None else f"user:{change.user_id}",
        before=before,
        after={"fees": after, "approval": approval_id},
    )
    return {"fees": after}


register(Kind("market.create", Permission.MARKETS_CREATE, _create_market))
register(Kind("fees.set", Permission.FEES_CHANGE, _set_fees))
