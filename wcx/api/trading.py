"""Private trading endpoints under /api/v1: balances, orders, fills, account.

Live state (balances, open orders) is read from engine memory on the event-loop thread; closed
orders and fills come from the SQL projection (`wcx.store.queries`). Every order command goes
through the sequencer and is answered only once it is durable.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from wcx.api import kyc_limits
from wcx.api.access import private
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.api.public import market_of, runtime_of, scales
from wcx.api.schemas import (
    AccountOut,
    BalanceOut,
    CancelledOut,
    FillOut,
    OrderIn,
    OrderOut,
    Page,
    PlacedOrder,
)
from wcx.engine import CancelAll, CancelOrder, Event, OrderType, PlaceOrder, Reject, Side, TimeInForce
from wcx.engine.events import OrderAccepted, OrderCancelled, OrderExpired, OrderFilled, OrderRejected
from wcx.engine.orders import Order
from wcx.engine.state import Market
from wcx.primitives import AmountError, format_amount, parse_amount
from wcx.runtime import Runtime
from wcx.store import queries
from wcx.store.schema import users

router = APIRouter(tags=["trading"])

MAX_PAGE = queries.MAX_LIMIT
RECENT_PLACEMENTS = 50_000
"""Placements remembered for idempotent retries by client order id (per process, newest kept)."""


Reader = Annotated[Principal, Depends(private(Permission.READ))]
Trader = Annotated[Principal, Depends(private(Permission.TRADE))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


# --- views -------------------------------------------------------------------------------------------


def _taker_fill(event: OrderFilled, market: Market, quote: int, base: int) -> FillOut:
    """The taker's side of a trade (an arriving order only ever takes)."""
    return FillOut(
        trade_id=event.trade_id,
        order_id=event.taker_order_id,
        symbol=event.symbol,
        side=event.taker_side,
        liquidity="taker",
        price=format_amount(event.price, quote),
        quantity=format_amount(event.quantity, base),
        quote_quantity=format_amount(event.quote_quantity, quote),
        fee=format_amount(event.taker_fee, quote),
        fee_asset=market.quote,
        seq=event.seq,
    )


def _open_order_out(runtime: Runtime, order: Order) -> OrderOut:
    market = runtime.engine.state.markets[order.symbol]
    quote, base = scales(runtime, market)
    return OrderOut(
        order_id=order.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side.BUY if order.is_buy else Side.SELL,
        type=order.type,
        time_in_force=order.tif,
        price=format_amount(order.price, quote),
        quantity=format_amount(order.quantity, base),
        quote_amount=format_amount(0, quote),
        post_only=order.post_only,
        status="open",
        filled=format_amount(order.filled, base),
        remaining=format_amount(order.remaining, base),
        fee=format_amount(order.fee_paid, quote),
    )


@contextmanager
def _cursor_errors() -> Iterator[None]:
    try:
        yield
    except queries.InvalidCursorError as exc:
        raise ApiError(400, "INVALID_CURSOR", str(exc)) from None


def _history_out(runtime: Runtime, row: queries.OrderRecord) -> OrderOut:
    market = runtime.engine.state.markets[row.symbol]
    quote, base = scales(runtime, market)
    remaining = row.quantity - row.filled if row.status == "open" else 0
    return OrderOut(
        order_id=row.order_id,
        client_order_id=row.client_order_id,
        symbol=row.symbol,
        side=Side(row.side),
        type=OrderType(row.type),
        time_in_force=TimeInForce(row.tif),
        price=format_amount(row.price, quote),
        quantity=format_amount(row.quantity, base),
        quote_amount=format_amount(row.quote_amount, quote),
        post_only=row.post_only,
        status=row.status,
        filled=format_amount(row.filled, base),
        remaining=format_amount(remaining, base),
        fee=format_amount(row.fee, quote),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _placed_out(runtime: Runtime, command: PlaceOrder, events: list[Event]) -> PlacedOrder:
    """The order a PlaceOrder created, from its events (and engine memory if it still rests)."""
    accepted = next(e for e in events if isinstance(e, OrderAccepted))
    market = runtime.engine.state.markets[command.symbol]
    quote, base = scales(runtime, market)
    trades = [e for e in events if isinstance(e, OrderFilled) and e.taker_order_id == accepted.order_id]
    fills = [_taker_fill(e, market, quote, base) for e in trades]
    filled = sum(e.quantity for e in trades)
    fee = sum(e.taker_fee for e in trades)
    status, reason, remaining = "filled", "", 0
    for event in events:
        if isinstance(event, OrderCancelled | OrderExpired) and event.order_id == accepted.order_id:
            status = "cancelled" if isinstance(event, OrderCancelled) else "expired"
            reason = event.reason.value
    live = runtime.engine.state.orders.get(accepted.order_id)
    if live is not None:
        status, remaining = "open", live.remaining
    return PlacedOrder(
        order_id=accepted.order_id,
        client_order_id=accepted.client_order_id,
        symbol=accepted.symbol,
        side=accepted.side,
        type=accepted.type,
        time_in_force=accepted.tif,
        price=format_amount(accepted.price, quote),
        quantity=format_amount(accepted.quantity, base),
        quote_amount=format_amount(accepted.quote_amount, quote),
        post_only=accepted.post_only,
        status=status,
        filled=format_amount(filled, base),
        remaining=format_amount(remaining, base),
        fee=format_amount(fee, quote),
        reason=reason,
        fills=fills,
    )


def _rejected(events: Iterable[Event]) -> None:
    for event in events:
        if isinstance(event, OrderRejected):
            raise ApiError.from_reject(event.code)


# --- order entry -------------------------------------------------------------------------------------


def _amount(value: str | None, scale: int, field: str) -> int:
    if value is None:
        return 0
    try:
        return parse_amount(value, scale)
    except AmountError as exc:
        raise ApiError(400, exc.code.upper(), f"{field}: {exc}") from None


def to_command(runtime: Runtime, account: int, body: OrderIn) -> PlaceOrder:
    """Validate the decimal strings against the market's assets and build the engine command."""
    market = market_of(runtime, body.symbol)
    quote, base = scales(runtime, market)
    return PlaceOrder(
        account=account,
        symbol=body.symbol,
        side=body.side,
        type=body.type,
        tif=body.time_in_force,
        price=_amount(body.price, quote, "price"),
        quantity=_amount(body.quantity, base, "quantity"),
        quote_amount=_amount(body.quote_amount, quote, "quote_amount"),
        post_only=body.post_only,
        client_order_id=body.client_order_id,
        stp=body.stp,
    )


def _same_order(order: Order, command: PlaceOrder) -> bool:
    """Whether a resting order is what `command` asks for (a retry after its answer was lost)."""
    return (
        order.symbol == command.symbol
        and order.is_buy == (command.side is Side.BUY)
        and order.type is command.type
        and order.tif is command.tif
        and order.price == command.price
        and order.quantity == command.quantity
        and order.post_only == command.post_only
        and order.stp is command.stp
    )


class Placements:
    """Remembers recent placements by (account, client order id), so a retry returns the same order."""

    def __init__(self, capacity: int = RECENT_PLACEMENTS) -> None:
        self._capacity = capacity
        # The answer as JSON bytes: a model is six objects the garbage collector would track and
        # rescan (~35 ms pauses every few seconds at 2,000 orders/s with 50,000 remembered).
        self._recent: OrderedDict[tuple[int, str], tuple[PlaceOrder, bytes]] = OrderedDict()
        self._pending: dict[tuple[int, str], asyncio.Future[None]] = {}

    async def place(self, runtime: Runtime, command: PlaceOrder) -> tuple[PlacedOrder, bool]:
        """(the order, created?) — created is False when an identical earlier placement was found."""
        if not command.client_order_id:
            return await self._submit(runtime, command), True
        key = (command.account, command.client_order_id)
        pending = self._pending.get(key)
        if pending is not None:
            await asyncio.shield(pending)
        earlier = await self._earlier(runtime, command)
        if earlier is not None:
            return earlier, False
        done = self._pending[key] = asyncio.get_running_loop().create_future()
        try:
            return await self._submit(runtime, command), True
        finally:
            del self._pending[key]
            done.set_result(None)

    async def _earlier(self, runtime: Runtime, command: PlaceOrder) -> PlacedOrder | None:
        """The order an identical earlier placement made, as it is now (with the fills it made on arrival)."""
        remembered = self._recent.get((command.account, command.client_order_id))
        if remembered is not None and remembered[0] == command:
            placed = PlacedOrder.model_validate_json(remembered[1])
            now = await order_view(runtime, command.account, placed.order_id)
            return PlacedOrder(**(now or placed).model_dump(exclude={"fills"}), fills=placed.fills)
        # After a restart only resting orders are known by client id (closed ones may be reused).
        account = runtime.engine.state.accounts.get(command.account)
        resting = account.client_ids.get(command.client_order_id) if account is not None else None
        if resting is not None and _same_order(resting, command):
            return PlacedOrder(**_open_order_out(runtime, resting).model_dump())
        return None

    async def _submit(self, runtime: Runtime, command: PlaceOrder) -> PlacedOrder:
        events = await runtime.submit(command)
        _rejected(events)
        placed = _placed_out(runtime, command, events)
        if command.client_order_id:
            self._recent[(command.account, command.client_order_id)] = (command, placed.model_dump_json())
            if len(self._recent) > self._capacity:
                self._recent.popitem(last=False)
        return placed


async def order_view(runtime: Runtime, account: int, order_id: int) -> OrderOut | None:
    """An account's order: open ones from engine memory, closed ones from history; None if not theirs."""
    order = runtime.engine.state.orders.get(order_id)
    if order is not None:
        return _open_order_out(runtime, order) if order.account == account else None
    await runtime.projected()
    row = await queries.order_by_id(runtime.db, account, order_id)
    return _history_out(runtime, row) if row is not None else None


@router.post("/orders", status_code=201, responses={200: {"description": "an identical earlier order"}})
async def place_order(
    body: OrderIn, principal: Trader, runtime: RuntimeDep, request: Request, response: Response
) -> PlacedOrder:
    """Place an order; repeating a client_order_id with the same parameters returns the same order (200)."""
    command = to_command(runtime, principal.user_id, body)
    await kyc_limits.require_trading_allowed(runtime, principal.user_id)
    placements: Placements = request.app.state.placements
    order, created = await placements.place(runtime, command)
    if not created:
        response.status_code = 200
    return order


@router.delete("/orders/{order_id}")
async def cancel_order(order_id: int, principal: Trader, runtime: RuntimeDep) -> OrderOut:
    """Cancel one open order by id."""
    order = runtime.engine.state.orders.get(order_id)
    if order is None or order.account != principal.user_id:
        raise ApiError.from_reject(Reject.UNKNOWN_ORDER)
    return await _cancel(runtime, order, CancelOrder(principal.user_id, order_id=order_id))


@router.delete("/orders")
async def cancel_orders(
    principal: Trader,
    runtime: RuntimeDep,
    client_order_id: Annotated[str | None, Query(max_length=64)] = None,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
) -> CancelledOut:
    """Cancel the open order with `client_order_id`, or else every open order (optionally in one market)."""
    if client_order_id is not None:
        account = runtime.engine.state.accounts.get(principal.user_id)
        order = account.client_ids.get(client_order_id) if account is not None else None
        if order is None:
            raise ApiError.from_reject(Reject.UNKNOWN_ORDER)
        await _cancel(runtime, order, CancelOrder(principal.user_id, client_order_id=client_order_id))
        return CancelledOut(cancelled=[order.id])
    if symbol is not None:
        market_of(runtime, symbol)
    events = await runtime.submit(CancelAll(principal.user_id, symbol or ""))
    _rejected(events)
    return CancelledOut(cancelled=[e.order_id for e in events if isinstance(e, OrderCancelled)])


async def _cancel(runtime: Runtime, order: Order, command: CancelOrder) -> OrderOut:
    events = await runtime.submit(command)
    _rejected(events)
    base = runtime.engine.state.assets[runtime.engine.state.markets[order.symbol].base]
    out = _open_order_out(runtime, order)
    return out.model_copy(
        update={"status": "cancelled", "reason": "user", "remaining": format_amount(0, base)}
    )


# --- reads -------------------------------------------------------------------------------------------


@router.get("/orders/open")
async def open_orders(
    principal: Reader, runtime: RuntimeDep, symbol: Annotated[str | None, Query(max_length=32)] = None
) -> list[OrderOut]:
    """The caller's open orders (from engine memory), oldest first."""
    account = runtime.engine.state.accounts.get(principal.user_id)
    if account is None:
        return []
    return [
        _open_order_out(runtime, order)
        for order_id, order in sorted(account.orders.items())
        if symbol is None or order.symbol == symbol
    ]


@router.get("/orders/history")
async def order_history(
    principal: Reader,
    runtime: RuntimeDep,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[OrderOut]:
    """The caller's orders from the SQL history, newest first, with cursor pagination."""
    await runtime.projected()
    with _cursor_errors():
        page = await queries.order_history(
            runtime.db, principal.user_id, symbol=symbol, cursor=cursor, limit=limit
        )
    return Page[OrderOut](
        items=[_history_out(runtime, row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/orders/{order_id}")
async def get_order(order_id: int, principal: Reader, runtime: RuntimeDep) -> OrderOut:
    """One of the caller's orders (another user's order answers 404)."""
    order = await order_view(runtime, principal.user_id, order_id)
    if order is None:
        raise ApiError.from_reject(Reject.UNKNOWN_ORDER)
    return order


@router.get("/orders")
async def get_order_by_client_id(
    principal: Reader, runtime: RuntimeDep, client_order_id: Annotated[str, Query(max_length=64)]
) -> OrderOut:
    """The caller's open order with this client order id, else the newest closed one."""
    account = runtime.engine.state.accounts.get(principal.user_id)
    order = account.client_ids.get(client_order_id) if account is not None else None
    if order is not None:
        return _open_order_out(runtime, order)
    await runtime.projected()
    row = await queries.order_by_client_id(runtime.db, principal.user_id, client_order_id)
    if row is None:
        raise ApiError.from_reject(Reject.UNKNOWN_ORDER)
    return _history_out(runtime, row)


@router.get("/fills")
async def fills(
    principal: Reader,
    runtime: RuntimeDep,
    symbol: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Page[FillOut]:
    """The caller's fills from the SQL history, newest first, with cursor pagination."""
    await runtime.projected()
    with _cursor_errors():
        page = await queries.fills(runtime.db, principal.user_id, symbol=symbol, cursor=cursor, limit=limit)
    items = []
    for row in page.items:
        market = runtime.engine.state.markets[row.symbol]
        quote, base = scales(runtime, market)
        items.append(
            FillOut(
                trade_id=row.trade_id,
                order_id=row.order_id,
                symbol=row.symbol,
                side=Side(row.side),
                liquidity=row.liquidity,
                price=format_amount(row.price, quote),
                quantity=format_amount(row.quantity, base),
                quote_quantity=format_amount(row.quote_quantity, quote),
                fee=format_amount(row.fee, quote),
                fee_asset=market.quote,
                seq=row.seq,
                time=row.ts,
            )
        )
    return Page[FillOut](items=items, next_cursor=page.next_cursor)


@router.get("/balances")
async def balances(principal: Reader, runtime: RuntimeDep) -> list[BalanceOut]:
    """Available and held amounts of every asset (from engine memory)."""
    state = runtime.engine.state
    out = []
    for asset, scale in sorted(state.assets.items()):
        available, held = state.balance(principal.user_id, asset)
        out.append(
            BalanceOut(
                asset=asset,
                available=format_amount(available, scale),
                held=format_amount(held, scale),
                total=format_amount(available + held, scale),
            )
        )
    return out


@router.get("/account")
async def account(principal: Reader, runtime: RuntimeDep) -> AccountOut:
    """The caller's identity, permissions, fee rates and open-order count."""
    async with runtime.db.connect() as connection:
        email = (
            await connection.execute(select(users.c.email).where(users.c.id == principal.user_id))
        ).scalar()
    state = runtime.engine.state
    maker, taker = state.fees_for(principal.user_id)
    holder = state.accounts.get(principal.user_id)
    return AccountOut(
        user_id=principal.user_id,
        email=email,
        permissions=sorted(p.value for p in principal.permissions),
        api_key_id=principal.api_key_id,
        maker_fee_bps=maker,
        taker_fee_bps=taker,
        open_orders=len(holder.orders) if holder is not None else 0,
    )
