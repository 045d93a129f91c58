"""The user data stream in Binance events, built from our private `account.<id>` channel.

`executionReport` for every order event (NEW, TRADE, CANCELED, EXPIRED, REPLACED), then
`outboundAccountPosition` with the balances the batch changed; deposits, withdrawals and admin
adjustments (balance changes without order activity) also send `balanceUpdate` with the delta.

Binance reports each order's full state in every event, our channel only what changed, so the
stream keeps the state of the account's orders: seeded from engine memory when it starts (and the
projection for the quote amount already filled), then advanced by each message.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wcx.api.binance.queries import open_orders, to_ms
from wcx.api.binance.views import NS_PER_MS, STP_MODES, Formats, order_status, order_type
from wcx.engine import SelfTradePrevention
from wcx.engine.orders import Order
from wcx.runtime import Runtime
from wcx.store import queries

_EXECUTION = {
    "accepted": "NEW",
    "partially_filled": "TRADE",
    "filled": "TRADE",
    "cancelled": "CANCELED",
    "expired": "EXPIRED",
    "amended": "REPLACED",
}


@dataclass
class _Order:
    """What the stream knows of one order (amounts are decimal strings, as our channel sends them)."""

    fmt: Formats
    client_order_id: str
    side: str
    kind: str
    tif: str
    price: str
    quantity: str
    quote_amount: str
    post_only: bool
    created_ms: int
    stp: str = "EXPIRE_TAKER"
    filled: Decimal = Decimal(0)
    quote_filled: Decimal = Decimal(0)


class UserStream:
    """Turns one account's channel messages into Binance user data events."""

    def __init__(self, runtime: Runtime, account: int) -> None:
        self.runtime = runtime
        self.account = account
        self.seq = 0
        self.orders: dict[int, _Order] = {}
        self.totals: dict[str, Decimal] = {}

    def seed(self) -> None:
        """The account as the engine has it now (call with no await since subscribing to the channel)."""
        state = self.runtime.engine.state
        self.seq = state.last_seq
        holder = state.accounts.get(self.account)
        if holder is None:
            return
        for order in holder.orders.values():
            self.orders[order.id] = self._from_engine(order)
        for asset in set(holder.available) | set(holder.held):
            available, held = state.balance(self.account, asset)
            self.totals[asset] = Decimal(available + held).scaleb(-state.assets[asset])

    def _from_engine(self, order: Order) -> _Order:
        fmt = Formats(self.runtime, self.runtime.engine.state.markets[order.symbol])
        return _Order(
            fmt=fmt,
            client_order_id=order.client_order_id,
            side="BUY" if order.is_buy else "SELL",
            kind=order_type(order.type.value, order.post_only),
            tif=order.tif.value.upper(),
            price=fmt.price(order.price),
            quantity=fmt.qty(order.quantity),
            quote_amount=fmt.price(0),
            post_only=order.post_only,
            created_ms=0,
            stp=STP_MODES[order.stp],
            filled=Decimal(fmt.qty(order.filled)),
        )

    async def complete(self) -> None:
        """Creation times and quote amounts filled so far of the seeded orders, from the projection.

        Only fills with seq <= the seed's count: later ones arrive on the channel.
        """
        if not self.orders:
            return
        await self.runtime.projected()
        for row in await open_orders(self.runtime.db, self.account, None):
            known = self.orders.get(row.order_id)
            if known is not None:
                known.created_ms = to_ms(row.created_at)
        for order_id, known in self.orders.items():
            if known.filled:
                known.quote_filled = await self._quote_filled(order_id, known.fmt)

    async def _quote_filled(self, order_id: int, fmt: Formats) -> Decimal:
        """The quote amount an order's fills up to the seed's seq came to."""
        total, cursor = 0, None
        while True:
            page = await queries.fills(
                self.runtime.db, self.account, order_id=order_id, cursor=cursor, limit=queries.MAX_LIMIT
            )
            total += sum(f.quote_quantity for f in page.items if f.seq <= self.seq)
            cursor = page.next_cursor
            if cursor is None:
                return Decimal(fmt.price(total))

    def events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """Binance events for one `account` channel message (none for what the seed already holds)."""
        if message.get("type") != "account" or message["seq"] <= self.seq:
            return []
        self.seq = message["seq"]
        now = message["ts"] // NS_PER_MS
        fills = iter(message["fills"])
        out = []
        for update in message["orders"]:
            status = update["status"]
            fill = next(fills) if status in ("partially_filled", "filled") else None
            report = self._report(update, fill, now)
            if report is not None:
                out.append(report)
        balances = message["balances"]
        if not message["orders"] and not message["fills"]:
            for asset, balance in balances.items():
                total = Decimal(balance["available"]) + Decimal(balance["held"])
                delta = total - self.totals.get(asset, Decimal(0))
                if delta:
                    out.append({"e": "balanceUpdate", "E": now, "a": asset, "d": f"{delta:f}", "T": now})
        for asset, balance in balances.items():
            self.totals[asset] = Decimal(balance["available"]) + Decimal(balance["held"])
        if balances:
            out.append(
                {
                    "e": "outboundAccountPosition",
                    "E": now,
                    "u": now,
                    "B": [{"a": a, "f": b["available"], "l": b["held"]} for a, b in balances.items()],
                }
            )
        return out

    def _report(self, update: dict[str, Any], fill: dict[str, Any] | None, now: int) -> dict[str, Any] | None:
        order_id, status = update["order_id"], update["status"]
        if status == "rejected" or order_id is None:
            return None  # the request that placed it was answered with the error
        if status == "accepted":
            fmt = Formats(self.runtime, self.runtime.engine.state.markets[update["symbol"]])
            market_order = update["order_type"] == "market"
            self.orders[order_id] = _Order(
                fmt=fmt,
                client_order_id=update["client_order_id"],
                side=update["side"].upper(),
                kind=order_type(update["order_type"], update["post_only"]),
                tif=update["tif"].upper(),
                price=fmt.price(0) if market_order else (update["price"] or fmt.price(0)),
                quantity=update["quantity"] or fmt.qty(0),
                quote_amount=update["quote_amount"] or fmt.price(0),
                post_only=update["post_only"],
                created_ms=now,
                stp=_stp_of(self.runtime, order_id),
            )
        order = self.orders.get(order_id)
        if order is None:
            return None
        fmt = order.fmt
        if status == "amended":
            order.price, order.quantity = update["price"], update["quantity"]
        last_qty = last_price = last_quote = fmt.qty(0), fmt.price(0), fmt.price(0)
        commission, commission_asset, trade_id, maker = fmt.price(0), None, -1, False
        if fill is not None:
            order.filled += Decimal(fill["quantity"])
            order.quote_filled += Decimal(fill["quote_quantity"])
            last_qty, last_price, last_quote = fill["quantity"], fill["price"], fill["quote_quantity"]
            commission, commission_asset = fill["fee"], fill["fee_asset"]
            trade_id, maker = fill["trade_id"], fill["liquidity"] == "maker"
        ours = {"accepted": "open", "partially_filled": "open", "amended": "open"}.get(status, status)
        open_now = ours == "open"
        reason = update.get("reason", "")
        report = {
            "e": "executionReport",
            "E": now,
            "s": fmt.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.kind,
            "f": order.tif,
            "q": order.quantity if order.quantity != fmt.qty(0) else f"{order.filled:f}",
            "p": order.price,
            "P": fmt.price(0),
            "F": fmt.qty(0),
            "g": -1,
            "C": order.client_order_id if status == "cancelled" else "",
            "x": "TRADE_PREVENTION" if reason == "self_trade_prevention" else _EXECUTION[status],
            "X": order_status(ours, int(order.filled > 0), reason),
            "r": "NONE",
            "i": order_id,
            "l": last_qty,
            "z": _at(order.filled, fmt.base_scale),
            "L": last_price,
            "n": commission,
            "N": commission_asset,
            "T": now,
            "t": trade_id,
            "I": 0,
            "w": open_now,
            "m": maker,
            "M": False,
            "O": order.created_ms,
            "Z": _at(order.quote_filled, fmt.quote_scale),
            "Y": last_quote,
            "Q": order.quote_amount,
            "W": order.created_ms,
            "V": order.stp,
        }
        if not open_now:
            self.orders.pop(order_id, None)
        return report


def _at(value: Decimal, scale: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-scale)):f}"


def _stp_of(runtime: Runtime, order_id: int) -> str:
    order = runtime.engine.state.orders.get(order_id)
    return STP_MODES[order.stp if order is not None else SelfTradePrevention.CANCEL_TAKER]
