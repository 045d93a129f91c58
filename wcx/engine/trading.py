"""Order entry, pre-trade risk, matching, cancels and amends."""

from __future__ import annotations

from typing import Any, Final

from msgspec.structs import astuple

from wcx.engine.book import BookSide, Level
from wcx.engine.codes import CancelReason, ExpireReason, Reject
from wcx.engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    MarketStatus,
    OrderType,
    PlaceOrder,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from wcx.engine.events import (
    Event,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from wcx.engine.orders import BPS, Order
from wcx.engine.state import Balance, EngineState, Market

# Final module constants compile to native globals under mypyc (no dict lookup per use).
MAX_CLIENT_ORDER_ID: Final = 64
_TRADING: Final = MarketStatus.TRADING
_LIMIT: Final = OrderType.LIMIT
_GTC: Final = TimeInForce.GTC
_FOK: Final = TimeInForce.FOK
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_CANCEL_TAKER: Final = SelfTradePrevention.CANCEL_TAKER
_CANCEL_MAKER: Final = SelfTradePrevention.CANCEL_MAKER
_HALTED: Final = MarketStatus.HALTED
_USER_CANCEL: Final = CancelReason.USER
_ADMIN_CANCEL: Final = CancelReason.ADMIN
_EXPIRED_IOC: Final = ExpireReason.IOC
_EXPIRED_MARKET: Final = ExpireReason.MARKET
_EXPIRED_PRICE_BOUND: Final = ExpireReason.PRICE_BOUND
_UNKNOWN_ORDER: Final = Reject.UNKNOWN_ORDER


def _check_fields(command: type[PlaceOrder | CancelOrder], fields: tuple[str, ...]) -> None:
    """Stop the engine at import should a command's fields change (handlers unpack them by position)."""
    if command.__struct_fields__ != fields:
        raise ImportError(f"{command.__name__} fields changed: {command.__struct_fields__}")


# The order and cancel handlers unpack their command positionally: one C call instead of a generic
# attribute lookup per field.
_check_fields(
    PlaceOrder,
    (
        "account",
        "symbol",
        "side",
        "type",
        "tif",
        "price",
        "quantity",
        "quote_amount",
        "post_only",
        "client_order_id",
        "stp",
    ),
)
_check_fields(CancelOrder, ("account", "order_id", "client_order_id", "admin"))

# Under mypyc an imported name is a module-dict lookup on every use; a Final alias is a C static.
_astuple: Final = astuple
_OrderAccepted: Final = OrderAccepted
_OrderFilled: Final = OrderFilled
_OrderCancelled: Final = OrderCancelled
_OrderRejected: Final = OrderRejected
_OrderExpired: Final = OrderExpired


def _status_reject(status: MarketStatus) -> Reject:
    return Reject.MARKET_HALTED if status is MarketStatus.HALTED else Reject.MARKET_CANCEL_ONLY


def _check_quantity(market: Market, quantity: int) -> Reject | None:
    if quantity <= 0:
        return Reject.INVALID_QUANTITY
    if quantity % market.lot_step:
        return Reject.BAD_STEP
    if quantity < market.min_quantity:
        return Reject.BELOW_MIN_QUANTITY
    if quantity > market.max_quantity:
        return Reject.ABOVE_MAX_QUANTITY
    return None


def _check_price(market: Market, price: int) -> Reject | None:
    if price <= 0:
        return Reject.INVALID_PRICE
    if price % market.tick_size:
        return Reject.BAD_TICK
    return None


def _check_limit(market: Market, price: int, quantity: int) -> Reject | None:
    code = _check_price(market, price) or _check_quantity(market, quantity)
    # floor(price × quantity / base_unit) < min_notional  ⇔  quantity < ⌈min_notional × base_unit / price⌉
    if code is None and quantity < -(-market.min_notional_scaled // price):
        return Reject.BELOW_MIN_NOTIONAL
    return code


def _valid_client_order_id(client_order_id: str) -> bool:
    """Printable ASCII without spaces, at most 64 characters."""
    if len(client_order_id) > MAX_CLIENT_ORDER_ID or not client_order_id.isascii():
        return False
    # Most ids are letters and digits: isalnum is a compiled primitive, the rest are method calls.
    return client_order_id.isalnum() or (client_order_id.isprintable() and " " not in client_order_id)


def _crosses(side: BookSide, is_buy: bool, price: int) -> bool:
    best = side.best()
    if best is None or price == 0:
        return best is not None
    return best.price <= price if is_buy else best.price >= price


def _within(is_buy: bool, level_price: int, bound: int) -> bool:
    return bound == 0 or (level_price <= bound if is_buy else level_price >= bound)


def _fillable(side: BookSide, order: Order, quantity: int) -> bool:
    """Whether `quantity` can fill now within the price bound, honouring self-trade prevention."""
    skip_own = order.stp is _CANCEL_MAKER
    for level in side.iter_levels():
        if not _within(order.is_buy, level.price, order.price):
            return False
        for maker in level.live_orders():
            if maker.account == order.account:
                if skip_own:
                    continue
                return False
            quantity -= maker.remaining
            if quantity <= 0:
                return True
    return False


def _tradeable(level: Level, order: Order) -> int:
    """Quantity at a level this taker can trade; under cancel-maker its own orders are skipped."""
    if order.stp is not _CANCEL_MAKER:
        return level.total
    return level.total - sum(o.remaining for o in level.live_orders() if o.account == order.account)


def _worst_price_for(side: BookSide, order: Order) -> int:
    """The price of the level where the order's quantity would be filled (or the last level)."""
    if order.stp is not _CANCEL_MAKER:
        return side.price_to_fill(order.quantity)
    price = 0
    quantity = order.quantity
    for level in side.iter_levels():
        price = level.price
        quantity -= _tradeable(level, order)
        if quantity <= 0:
            break
    return price


def _quantity_for_quote(side: BookSide, market: Market, order: Order, quote_amount: int) -> int:
    """Base quantity (whole lots) whose proceeds stay within `quote_amount` when sold down the bids."""
    quantity = 0
    step = market.lot_step
    for level in side.iter_levels():
        if not _within(False, level.price, order.price):
            break
        available = _tradeable(level, order)
        lot_value = market.notional(level.price, step)
        lots = min(available // step, quote_amount // lot_value)
        quantity += lots * step
        quote_amount -= lots * lot_value
        if lots * step < available:
            break
    return quantity


def _release(funds: Balance, amount: int) -> None:
    funds.held -= amount
    funds.available += amount


def _unregister(st: EngineState, order: Order) -> None:
    key: Any = order.id  # boxed once for both dicts
    del st.orders[key]
    owner = order.owner
    del owner.orders[key]
    if order.client_order_id:
        del owner.client_ids[order.client_order_id]


def _proceeds(order: Order, market: Market) -> Balance:
    """The balance an order's fills credit (base for a buy, quote for a sell)."""
    proceeds = order.proceeds
    if proceeds is None:
        proceeds = order.proceeds = order.owner.balance(market.base if order.is_buy else market.quote)
    return proceeds


def _find(st: EngineState, account_id: int, order_id: int, client_order_id: str) -> Order | Reject:
    if order_id:
        order = st.orders.get(order_id)
        if order is None:
            return _UNKNOWN_ORDER
        if order.account != account_id:
            return Reject.NOT_OWNER
        return order
    if client_order_id:
        account = st.accounts.get(account_id)
        found = account.client_ids.get(client_order_id) if account else None
        return found if found is not None else _UNKNOWN_ORDER
    return Reject.INVALID_ORDER


def _cancel(st: EngineState, market: Market, order: Order, reason: CancelReason, seq: int, ts: int) -> Event:
    """Take a resting order off the book and release its hold."""
    market.book.side(order.is_buy).remove(order)
    _release(order.funds, order.hold)
    order.hold = 0
    _unregister(st, order)
    return _OrderCancelled(
        seq, ts, order.id, order.account, order.symbol, order.remaining, reason, order.client_order_id
    )


def _affordable_lots(taker: Order, lot_value: int, max_lots: int) -> int:
    """Most whole lots a market buy by quote amount can pay for, fee included, from its hold."""
    budget = taker.hold
    bps = taker.taker_bps

    def cost(lots: int) -> int:
        notional = lots * lot_value
        return notional + -(-(taker.fee_num + notional * bps) // BPS) - taker.fee_paid

    lots = min(max_lots, budget * BPS // (lot_value * (BPS + bps)))
    while lots < max_lots and cost(lots + 1) <= budget:
        lots += 1
    while lots > 0 and cost(lots) > budget:
        lots -= 1
    return lots


def _trade(
    st: EngineState, market: Market, side: BookSide, taker: Order, maker: Order, qty: int, seq: int, ts: int
) -> Event:
    """Settle one fill between a resting maker and the taker; fees are charged in quote."""
    price = maker.price
    notional = market.notional(price, qty)
    maker.remaining -= qty
    maker.filled += qty
    if taker.quantity:
        taker.remaining -= qty
    taker.filled += qty
    maker_fee = maker.charge_fee(notional, maker.maker_bps)
    taker_fee = taker.charge_fee(notional, taker.taker_bps)
    if taker.is_buy:
        spent = notional + taker_fee
        taker.hold -= spent
        taker.funds.held -= spent
        _proceeds(taker, market).available += qty
        maker.hold -= qty
        maker.funds.held -= qty
        _proceeds(maker, market).available += notional - maker_fee
    else:
        taker.hold -= qty
        taker.funds.held -= qty
        _proceeds(taker, market).available += notional - taker_fee
        # A resting buy keeps exactly what its remainder needs; the rest of its hold is released.
        required = maker.hold_for(market.notional(price, maker.remaining))
        freed = maker.hold - required
        maker.hold = required
        funds = maker.funds
        funds.held -= freed
        funds.available += freed - notional - maker_fee
        _proceeds(maker, market).available += qty
    market.fee_income.available += maker_fee + taker_fee
    side.reduce(maker, qty)
    if maker.remaining == 0:
        side.remove(maker)
        _unregister(st, maker)
    trade_id = st.next_trade_id
    st.next_trade_id = trade_id + 1
    return _OrderFilled(
        seq,
        ts,
        trade_id,
        market.symbol,
        price,
        qty,
        notional,
        _BUY if taker.is_buy else _SELL,
        maker.id,
        maker.account,
        maker_fee,
        maker.remaining,
        taker.id,
        taker.account,
        taker_fee,
        taker.remaining,
    )


def _match(st: EngineState, market: Market, taker: Order, seq: int, ts: int, out: list[Event]) -> bool:
    """Trade the taker against the opposite side; True when self-trade prevention cancelled it."""
    side = market.book.opposite(taker.is_buy)
    is_buy = taker.is_buy
    bound = taker.price
    by_quote = taker.quantity == 0
    step = market.lot_step
    while by_quote or taker.remaining:
        level = side.top
        if level is None:
            return False
        price = level.price
        if bound and (price > bound if is_buy else price < bound):
            return False
        lot_value = market.notional(price, step) if by_quote else 0
        while level.live:
            maker = level.first()
            if maker.account == taker.account:
                stp = taker.stp
                if stp is not _CANCEL_TAKER:
                    out.append(_cancel(st, market, maker, CancelReason.SELF_TRADE, seq, ts))
                if stp is not _CANCEL_MAKER:
                    out.append(
                        OrderCancelled(
                            seq,
                            ts,
                            taker.id,
                            taker.account,
                            taker.symbol,
                            taker.remaining,
                            CancelReason.SELF_TRADE,
                            taker.client_order_id,
                        )
                    )
                    return True
                continue
            if by_quote:
                qty = _affordable_lots(taker, lot_value, maker.remaining // step) * step
                if qty == 0:
                    return False
            else:
                qty = min(maker.remaining, taker.remaining)
            out.append(_trade(st, market, side, taker, maker, qty, seq, ts))
            if not by_quote and taker.remaining == 0:
                return False
    return False


def _finish(
    st: EngineState, market: Market, order: Order, cancelled: bool, seq: int, ts: int, out: list[Event]
) -> None:
    """Rest a GTC limit remainder with exactly the hold it needs, or close the order out."""
    if not cancelled and order.remaining and order.type is _LIMIT and order.tif is _GTC:
        required = order.hold_for(market.notional(order.price, order.remaining))
        _release(order.funds, order.hold - required)
        order.hold = required
        market.book.side(order.is_buy).add(order)
        return
    leftover = order.hold
    _release(order.funds, leftover)
    order.hold = 0
    if not cancelled and (order.remaining or (order.quantity == 0 and leftover)):
        reason = _EXPIRED_IOC if order.type is _LIMIT else _EXPIRED_MARKET
        top = market.book.opposite(order.is_buy).top
        if (
            reason is _EXPIRED_MARKET
            and top is not None
            and not _within(order.is_buy, top.price, order.price)
        ):
            reason = _EXPIRED_PRICE_BOUND
        out.append(
            _OrderExpired(
                seq, ts, order.id, order.account, order.symbol, order.remaining, reason, order.client_order_id
            )
        )
    _unregister(st, order)


def _validate_place(
    market: Market,
    account_id: int,
    cid: str,
    order_type: OrderType,
    tif: TimeInForce,
    price: int,
    quantity: int,
    quote_amount: int,
    post_only: bool,
) -> Reject | None:
    if account_id <= 0:
        return Reject.INVALID_ACCOUNT
    if cid and not _valid_client_order_id(cid):
        return Reject.INVALID_CLIENT_ORDER_ID
    if order_type is _LIMIT:
        if quote_amount or (post_only and tif is not _GTC):
            return Reject.INVALID_ORDER
        return _check_limit(market, price, quantity)
    if post_only or (quantity > 0) == (quote_amount > 0):
        return Reject.INVALID_ORDER
    if price and (code := _check_price(market, price)):
        return code
    if quantity:
        return _check_quantity(market, quantity)
    if tif is _FOK or quote_amount < 0:
        return Reject.INVALID_ORDER
    if quote_amount < max(market.min_notional, 1):
        return Reject.BELOW_MIN_NOTIONAL
    return None


def place_order(st: EngineState, seq: int, ts: int, cmd: PlaceOrder, out: list[Event]) -> None:
    """Validate, hold funds, match, and rest or close out a new order."""
    account_id: int
    symbol: str
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: int
    quantity: int
    quote_amount: int
    post_only: bool
    cid: str
    stp: SelfTradePrevention
    fields = _astuple(cmd)
    (account_id, symbol, side, order_type, tif, price, quantity, quote_amount, post_only, cid, stp) = fields
    # Dict keys and the event take the command's own int objects (typed Any, so mypyc keeps them as
    # objects): an `int` local is unboxed, and boxing it again for each use allocates.
    account_key: Any = fields[0]
    market = st.markets.get(symbol)
    code: Reject | None
    if market is None:
        code = Reject.UNKNOWN_MARKET
    elif market.status is not _TRADING:
        code = _status_reject(market.status)
    else:
        code = _validate_place(
            market, account_id, cid, order_type, tif, price, quantity, quote_amount, post_only
        )
    account = st.accounts.get(account_key)
    if code is None and cid and account and cid in account.client_ids:
        code = Reject.DUPLICATE_CLIENT_ORDER_ID
    if code is not None or market is None:
        out.append(OrderRejected(seq, ts, account_id, symbol, code or Reject.UNKNOWN_MARKET, 0, cid))
        return
    is_buy = side is _BUY
    # Most accounts have no override: skip the lookup (and the boxing of its int key) then.
    overrides = st.fee_overrides
    maker_bps, taker_bps = overrides.get(account_id, st.default_fees) if overrides else st.default_fees
    book = market.book
    opposite = book.asks if is_buy else book.bids
    top = opposite.top
    order = Order(
        st.next_order_id,
        account_id,
        symbol,
        is_buy,
        order_type,
        tif,
        price,
        quantity,
        cid,
        post_only,
        stp,
        maker_bps,
        taker_bps,
    )
    crosses = top is not None
    if order_type is _LIMIT:
        crosses = crosses and _crosses(opposite, is_buy, price)
        if post_only and crosses:
            code = Reject.POST_ONLY_WOULD_CROSS
        hold = order.hold_for(market.notional(price, quantity))
    elif top is None:
        code = Reject.NO_LIQUIDITY
    elif is_buy and quote_amount:
        hold = quote_amount
    elif is_buy:
        if not price:
            order.price = _worst_price_for(opposite, order)
        hold = order.hold_for(market.notional(order.price, quantity))
    else:
        if quote_amount:
            order.quantity = order.remaining = _quantity_for_quote(opposite, market, order, quote_amount)
            if order.quantity == 0:
                code = Reject.NO_LIQUIDITY
        hold = order.quantity
    if code is None and tif is _FOK and not _fillable(opposite, order, order.quantity):
        code = Reject.FOK_CANNOT_FILL
    funds = account.balances.get(market.quote if is_buy else market.base) if account is not None else None
    if code is None and (funds is None or funds.available < hold):
        code = Reject.INSUFFICIENT_FUNDS
    if code is not None or account is None or funds is None:
        out.append(OrderRejected(seq, ts, account_id, symbol, code or Reject.INSUFFICIENT_FUNDS, 0, cid))
        return
    st.next_order_id = order.id + 1
    funds.available -= hold
    funds.held += hold
    order.hold = hold
    order.attach(account, funds)
    order_key: Any = order.id  # boxed once for both dicts and the event
    st.orders[order_key] = order
    account.orders[order_key] = order
    if cid:
        account.client_ids[cid] = order
    out.append(
        _OrderAccepted(
            seq,
            ts,
            order_key,
            account_key,
            symbol,
            side,
            order_type,
            tif,
            fields[5],
            order.quantity if quote_amount else fields[6],  # a sell by quote amount sets its quantity
            quote_amount,
            hold,
            post_only,
            cid,
            stp,
        )
    )
    if not crosses and tif is _GTC and order_type is _LIMIT:
        # The common case: nothing to match, and the hold taken is exactly what resting needs.
        (book.bids if is_buy else book.asks).add(order)
        return
    cancelled = crosses and _match(st, market, order, seq, ts, out)
    _finish(st, market, order, cancelled, seq, ts, out)


def cancel_order(st: EngineState, seq: int, ts: int, cmd: CancelOrder, out: list[Event]) -> None:
    """Cancel one open order of the account."""
    account_id: int
    order_id: int
    cid: str
    admin: bool
    account_id, order_id, cid, admin = _astuple(cmd)
    found = _find(st, account_id, order_id, cid)
    if isinstance(found, Order):
        market = st.markets[found.symbol]
        if market.status is _HALTED:
            found = Reject.MARKET_HALTED
        else:
            out.append(_cancel(st, market, found, _ADMIN_CANCEL if admin else _USER_CANCEL, seq, ts))
            return
    out.append(_OrderRejected(seq, ts, account_id, "", found, order_id, cid))


def cancel_all(st: EngineState, seq: int, ts: int, cmd: CancelAll, out: list[Event]) -> None:
    """Cancel every open order of the account (in one market if given); halted markets keep theirs."""
    if cmd.symbol and cmd.symbol not in st.markets:
        out.append(OrderRejected(seq, ts, cmd.account, cmd.symbol, Reject.UNKNOWN_MARKET))
        return
    account = st.accounts.get(cmd.account)
    if account is None:
        return
    reason = CancelReason.ADMIN if cmd.admin else CancelReason.CANCEL_ALL
    # Order-id order, not dict order: a restored snapshot rebuilds the dicts in book order.
    for _, order in sorted(account.orders.items()):
        market = st.markets[order.symbol]
        if (not cmd.symbol or order.symbol == cmd.symbol) and market.status is not MarketStatus.HALTED:
            out.append(_cancel(st, market, order, reason, seq, ts))


def amend_order(st: EngineState, seq: int, ts: int, cmd: AmendOrder, out: list[Event]) -> None:
    """Change quantity and/or price: a pure quantity decrease keeps priority, anything else re-queues."""
    found = _find(st, cmd.account, cmd.order_id, cmd.client_order_id)
    if isinstance(found, Reject):
        out.append(OrderRejected(seq, ts, cmd.account, "", found, cmd.order_id, cmd.client_order_id))
        return
    order = found
    market = st.markets[order.symbol]
    quantity = cmd.quantity or order.quantity
    price = cmd.price or order.price
    code: Reject | None
    if market.status is not _TRADING:
        code = _status_reject(market.status)
    elif (quantity, price) == (order.quantity, order.price):
        code = Reject.NOTHING_TO_AMEND
    else:
        code = _check_limit(market, price, quantity)
    if code is None and quantity <= order.filled:
        code = Reject.INVALID_QUANTITY
    funds = order.funds
    side = market.book.side(order.is_buy)
    keeps_priority = price == order.price and quantity < order.quantity
    old = (order.price, order.quantity, order.remaining)
    order.price, order.quantity, order.remaining = price, quantity, quantity - order.filled
    required = order.hold_for(market.notional(price, order.remaining))
    if code is None and not keeps_priority:
        if required - order.hold > funds.available:
            code = Reject.INSUFFICIENT_FUNDS
        elif order.post_only and _crosses(market.book.opposite(order.is_buy), order.is_buy, price):
            code = Reject.POST_ONLY_WOULD_CROSS
    if code is not None:
        order.price, order.quantity, order.remaining = old
        out.append(OrderRejected(seq, ts, cmd.account, order.symbol, code, order.id, order.client_order_id))
        return
    if keeps_priority:
        side.reduce(order, old[2] - order.remaining)
    else:
        order.price, order.remaining = old[0], old[2]
        side.take_out(order)
        order.price, order.remaining, order.is_open = price, quantity - order.filled, True
    funds.available -= required - order.hold
    funds.held += required - order.hold
    order.hold = required
    out.append(
        OrderAmended(
            seq,
            ts,
            order.id,
            order.account,
            order.symbol,
            price,
            quantity,
            order.remaining,
            keeps_priority,
            required,
        )
    )
    if not keeps_priority:
        cancelled = _match(st, market, order, seq, ts, out)
        _finish(st, market, order, cancelled, seq, ts, out)
