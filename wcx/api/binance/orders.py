"""Order entry, cancels, order queries and account information in Binance terms.

Shared by the REST routes (`wcx.api.binance.account`) and the WebSocket API (`wcx.api.binance.wsapi`).
Every change goes through `runtime.submit` with the same engine commands `/api/v1` uses. Answers about
new, open and just-cancelled unfilled orders come from the events and engine memory; the rest from the
SQL projection after `runtime.projected()` (read-your-writes), like `/api/v1`.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from wcx.api.binance.errors import (
    STATUS_UNKNOWN,
    UNKNOWN_ORDER_CANCEL,
    UNKNOWN_ORDER_QUERY,
    BinanceError,
    cancel_rejected,
    mandatory,
    place_rejected,
)
from wcx.api.binance.params import Params
from wcx.api.binance.queries import open_orders
from wcx.api.binance.views import (
    NS_PER_MS,
    STP_BY_NAME,
    STP_MODES,
    Formats,
    order_status,
    order_type,
    order_view,
)
from wcx.api.principal import Permission, Principal
from wcx.engine import (
    CancelAll,
    CancelOrder,
    Event,
    OrderType,
    PlaceOrder,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from wcx.engine.events import OrderAccepted, OrderCancelled, OrderExpired, OrderFilled, OrderRejected
from wcx.engine.orders import Order
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store import queries

CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
UNSUPPORTED = ("stopPrice", "icebergQty", "trailingDelta", "strategyId", "strategyType", "pegPriceType")


def new_client_order_id() -> str:
    """A random 22-character id for an order placed without one (so it is queryable by client id)."""
    return secrets.token_urlsafe(16)  # 128 bits in 22 characters, one read of the OS's randomness


def _client_order_id(params: Params, name: str) -> str | None:
    value = params.text(name, max_length=36)
    if value is not None and not CLIENT_ORDER_ID.fullmatch(value):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        )
    return value


def _not_allowed(name: str) -> BinanceError:
    return BinanceError(-1106, f"Parameter '{name}' sent when not required.")


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A parsed order request: the engine command and how to answer."""

    command: PlaceOrder
    response_type: str


def parse_new_order(runtime: Runtime, account: int, params: Params) -> NewOrder:
    """Validate a Binance new-order request and build the engine command (filters are the engine's)."""
    market = params.market(runtime)
    fmt = Formats(runtime, market)
    side = params.choice("side", ("BUY", "SELL"), -1117, "Invalid side.")
    if side is None:
        raise mandatory("side")
    kind = params.choice("type", ORDER_TYPES, -1116, "Invalid orderType.")
    if kind is None:
        raise mandatory("type")
    for name in UNSUPPORTED:
        if params.text(name) is not None:
            raise _not_allowed(name)
    tif_name = params.choice("timeInForce", ("GTC", "IOC", "FOK"), -1115, "Invalid timeInForce.")
    price = params.amount("price", fmt.quote_scale)
    quantity = params.amount("quantity", fmt.base_scale)
    quote = params.amount("quoteOrderQty", fmt.quote_scale)
    stp_name = params.choice(
        "selfTradePreventionMode",
        tuple(STP_BY_NAME),
        -1130,
        "Data sent for parameter 'selfTradePreventionMode' is not valid.",
    )
    respond = params.choice(
        "newOrderRespType", RESPONSE_TYPES, -1130, "Data sent for parameter 'newOrderRespType' is not valid."
    )
    if kind == "MARKET":
        for name, value in (("timeInForce", tif_name), ("price", price)):
            if value is not None:
                raise _not_allowed(name)
        if (quantity is None) == (quote is None):
            raise BinanceError(
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty or both were sent!",
            )
    else:
        if kind == "LIMIT" and tif_name is None:
            raise mandatory("timeInForce")
        if kind == "LIMIT_MAKER" and tif_name is not None:
            raise _not_allowed("timeInForce")
        if quote is not None:
            raise _not_allowed("quoteOrderQty")
        if quantity is None:
            raise mandatory("quantity")
        if price is None:
            raise mandatory("price")
    command = PlaceOrder(
        account=account,
        symbol=market.symbol,
        side=Side.BUY if side == "BUY" else Side.SELL,
        type=OrderType.MARKET if kind == "MARKET" else OrderType.LIMIT,
        tif=TimeInForce(tif_name.lower()) if tif_name else TimeInForce.GTC,
        price=price or 0,
        quantity=quantity or 0,
        quote_amount=quote or 0,
        post_only=kind == "LIMIT_MAKER",
        client_order_id=_client_order_id(params, "newClientOrderId") or new_client_order_id(),
        stp=STP_BY_NAME[stp_name] if stp_name else SelfTradePrevention.CANCEL_TAKER,
    )
    return NewOrder(command, respond or ("ACK" if kind == "LIMIT_MAKER" else "FULL"))


def _placed(runtime: Runtime, new: NewOrder, events: list[Event]) -> dict[str, Any]:
    """The answer to a new order, built from its events (and engine memory if it rests)."""
    for event in events:
        if isinstance(event, OrderRejected):
            raise place_rejected(event.code)
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    market = runtime.engine.state.markets[accepted.symbol]
    fmt = Formats(runtime, market)
    ack = {
        "symbol": fmt.symbol,
        "orderId": accepted.order_id,
        "orderListId": -1,
        "clientOrderId": accepted.client_order_id,
        "transactTime": accepted.ts // NS_PER_MS,
    }
    if new.response_type == "ACK":
        return ack
    trades = [e for e in events if isinstance(e, OrderFilled) and e.taker_order_id == accepted.order_id]
    filled = sum(t.quantity for t in trades)
    status = "filled"
    reason = ""
    for event in events:
        if isinstance(event, OrderCancelled | OrderExpired) and event.order_id == accepted.order_id:
            status = "cancelled" if isinstance(event, OrderCancelled) else "expired"
            reason = event.reason.value
    if accepted.order_id in runtime.engine.state.orders:
        status = "open"
    market_order = accepted.type is OrderType.MARKET
    result = {
        **ack,
        "price": fmt.price(0 if market_order else accepted.price),
        "origQty": fmt.qty(accepted.quantity or filled),
        "executedQty": fmt.qty(filled),
        "origQuoteOrderQty": fmt.price(accepted.quote_amount),
        "cummulativeQuoteQty": fmt.price(sum(t.quote_quantity for t in trades)),
        "status": order_status(status, filled, reason),
        "timeInForce": accepted.tif.value.upper(),
        "type": "MARKET" if market_order else ("LIMIT_MAKER" if accepted.post_only else "LIMIT"),
        "side": accepted.side.value.upper(),
        "workingTime": accepted.ts // NS_PER_MS,
        "selfTradePreventionMode": STP_MODES[accepted.stp],
    }
    if new.response_type == "RESULT":
        return result
    result["fills"] = [
        {
            "price": fmt.price(t.price),
            "qty": fmt.qty(t.quantity),
            "commission": fmt.price(t.taker_fee),
            "commissionAsset": market.quote,
            "tradeId": t.trade_id,
        }
        for t in trades
    ]
    return result


def _bps(bps: int) -> str:
    """Basis points as a fraction with 8 decimals (10 -> "0.00100000")."""
    return format_amount(bps * 10_000, 8)


async def place(runtime: Runtime, principal: Principal, params: Params) -> dict[str, Any]:
    """Place a new order and answer ACK / RESULT / FULL."""
    new = parse_new_order(runtime, principal.user_id, params)
    # The KYC tier gates trading here exactly as on /api/v1/orders.
    if await runtime.kyc.check_trading_allowed(runtime.db, principal.user_id) is not None:
        raise BinanceError(-2010, "This action is disabled on this account (KYC_TRADING_NOT_ALLOWED).", 403)
    return _placed(runtime, new, await runtime.submit(new.command))


def _open_order(runtime: Runtime, account: int, params: Params, symbol: str) -> Order:
    """The account's open order named by orderId or origClientOrderId in `symbol`, or -2011."""
    order_id = params.integer("orderId", low=1)
    client_id = params.text("origClientOrderId", max_length=36)
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    state = runtime.engine.state
    if order_id is not None:
        order = state.orders.get(order_id)
    else:
        holder = state.accounts.get(account)
        order = holder.client_ids.get(client_id or "") if holder is not None else None
    if order is None or order.account != account or order.symbol != symbol:
        raise UNKNOWN_ORDER_CANCEL
    if client_id is not None and order.client_order_id != client_id:
        raise UNKNOWN_ORDER_CANCEL
    return order


async def _closed_view(runtime: Runtime, order: Order) -> dict[str, Any]:
    """The view of an order just cancelled: from engine memory when it never filled, else from history.

    A cancel is the end of an open order, so the engine's last copy of it is final. Without fills every
    field is known there; with fills, `cummulativeQuoteQty` is a sum only the projection keeps, so that
    answer waits for the projector (read-your-writes) and reads the order's row.
    """
    if not order.filled:
        fmt = Formats(runtime, runtime.engine.state.markets[order.symbol])
        return {
            "symbol": fmt.symbol,
            "orderId": order.id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": fmt.price(order.price),
            "origQty": fmt.qty(order.quantity),
            "executedQty": fmt.qty(0),
            "cummulativeQuoteQty": fmt.price(0),
            "status": order_status("cancelled", 0),
            "timeInForce": order.tif.value.upper(),
            "type": order_type(order.type.value, order.post_only),
            "side": "BUY" if order.is_buy else "SELL",
            "selfTradePreventionMode": STP_MODES[order.stp],
        }
    return await _projected_view(runtime, order.account, order.id, order.stp)


async def _projected_view(
    runtime: Runtime, account: int, order_id: int, stp: SelfTradePrevention | None
) -> dict[str, Any]:
    await runtime.projected()
    row = await queries.order_by_id(runtime.db, account, order_id)
    if row is None:  # the projector is behind by more than its wait; the cancel itself succeeded
        raise STATUS_UNKNOWN
    market = runtime.engine.state.markets[row.symbol]
    return order_view(Formats(runtime, market), row, stp)


def _cancel_answer(view: dict[str, Any], cancel_id: str | None, ts_ms: int) -> dict[str, Any]:
    keep = (
        "symbol",
        "orderId",
        "orderListId",
        "price",
        "origQty",
        "executedQty",
        "cummulativeQuoteQty",
        "status",
        "timeInForce",
        "type",
        "side",
        "selfTradePreventionMode",
    )
    answer = {name: view[name] for name in keep if name in view}
    answer["origClientOrderId"] = view["clientOrderId"]
    answer["clientOrderId"] = cancel_id or new_client_order_id()
    answer["transactTime"] = ts_ms
    return answer


async def cancel(runtime: Runtime, principal: Principal, params: Params) -> dict[str, Any]:
    """Cancel one open order (DELETE /api/v3/order, order.cancel)."""
    market = params.market(runtime)
    restriction = params.choice(
        "cancelRestrictions",
        ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"),
        -1130,
        "Data sent for parameter 'cancelRestrictions' is not valid.",
    )
    cancel_id = _client_order_id(params, "newClientOrderId")
    order = _open_order(runtime, principal.user_id, params, market.symbol)
    if (restriction == "ONLY_NEW" and order.filled) or (
        restriction == "ONLY_PARTIALLY_FILLED" and not order.filled
    ):
        raise BinanceError(-2011, "Order was not canceled due to cancel restrictions.")
    events = await runtime.submit(CancelOrder(principal.user_id, order_id=order.id))
    for event in events:
        if isinstance(event, OrderRejected):
            raise cancel_rejected(event.code)
    ts_ms = events[0].ts // NS_PER_MS if events else 0
    return _cancel_answer(await _closed_view(runtime, order), cancel_id, ts_ms)


async def cancel_all(runtime: Runtime, principal: Principal, params: Params) -> list[dict[str, Any]]:
    """Cancel every open order in one symbol (DELETE /api/v3/openOrders); none open is -2011."""
    market = params.market(runtime)
    holder = runtime.engine.state.accounts.get(principal.user_id)
    live = {o.id: o for o in holder.orders.values() if o.symbol == market.symbol} if holder else {}
    if not live:
        raise UNKNOWN_ORDER_CANCEL
    events = await runtime.submit(CancelAll(principal.user_id, market.symbol))
    for event in events:
        if isinstance(event, OrderRejected):
            raise cancel_rejected(event.code)
    answers = []
    for event in events:
        if isinstance(event, OrderCancelled):
            order = live.get(event.order_id)
            if order is not None:
                view = await _closed_view(runtime, order)
            else:  # placed while this request was queued: no copy of it here
                view = await _projected_view(runtime, principal.user_id, event.order_id, None)
            answers.append(_cancel_answer(view, None, event.ts // NS_PER_MS))
    return answers


def live_stp(runtime: Runtime, order_id: int) -> SelfTradePrevention | None:
    """The self-trade prevention mode of an open order (history does not keep it)."""
    order = runtime.engine.state.orders.get(order_id)
    return order.stp if order is not None else None


async def open_orders_view(runtime: Runtime, principal: Principal, params: Params) -> list[dict[str, Any]]:
    """The caller's open orders, in one symbol or all (GET /api/v3/openOrders, openOrders.status)."""
    market = params.market(runtime) if params.text("symbol") is not None else None
    await runtime.projected()
    rows = await open_orders(runtime.db, principal.user_id, market.symbol if market else None)
    markets = runtime.engine.state.markets
    return [order_view(Formats(runtime, markets[r.symbol]), r, live_stp(runtime, r.order_id)) for r in rows]


async def query(runtime: Runtime, principal: Principal, params: Params) -> dict[str, Any]:
    """One of the caller's orders by orderId or origClientOrderId (GET /api/v3/order); -2013 otherwise."""
    market = params.market(runtime)
    order_id = params.integer("orderId", low=1)
    client_id = params.text("origClientOrderId", max_length=36)
    if order_id is None and client_id is None:
        raise BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    await runtime.projected()
    if order_id is not None:
        row = await queries.order_by_id(runtime.db, principal.user_id, order_id)
    else:
        row = await queries.order_by_client_id(runtime.db, principal.user_id, client_id or "")
    if (
        row is None
        or row.symbol != market.symbol
        or (client_id is not None and row.client_order_id != client_id)
    ):
        raise UNKNOWN_ORDER_QUERY
    return order_view(Formats(runtime, market), row, live_stp(runtime, row.order_id))


def account_info(runtime: Runtime, principal: Principal, params: Params) -> dict[str, Any]:
    """GET /api/v3/account: commissions, permissions and balances from engine memory."""
    omit_zero = params.boolean("omitZeroBalances") or False
    state = runtime.engine.state
    maker, taker = state.fees_for(principal.user_id)
    balances = []
    for asset, scale in sorted(state.assets.items()):
        available, held = state.balance(principal.user_id, asset)
        if omit_zero and not (available or held):
            continue
        balances.append(
            {"asset": asset, "free": format_amount(available, scale), "locked": format_amount(held, scale)}
        )

    return {
        "makerCommission": maker,
        "takerCommission": taker,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": _bps(maker), "taker": _bps(taker), "buyer": _bps(0), "seller": _bps(0)},
        "canTrade": principal.can(Permission.TRADE),
        "canWithdraw": principal.can(Permission.WITHDRAW),
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": time.time_ns() // NS_PER_MS,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": principal.user_id,
    }
