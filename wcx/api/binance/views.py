"""Our orders, fills and trades in the field names and types of the Binance Spot API.

Amounts are decimal strings at the asset's scale, times are milliseconds since the epoch. Fees are
always charged in the quote asset, so `commissionAsset` is the market's quote asset.
"""

from __future__ import annotations

from typing import Any

from wcx.api.binance.params import binance_symbol
from wcx.api.binance.queries import to_ms
from wcx.engine import SelfTradePrevention
from wcx.engine.state import Market
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store.queries import FillRecord, OrderRecord, TradeRecord

STP_MODES = {
    SelfTradePrevention.CANCEL_TAKER: "EXPIRE_TAKER",
    SelfTradePrevention.CANCEL_MAKER: "EXPIRE_MAKER",
    SelfTradePrevention.CANCEL_BOTH: "EXPIRE_BOTH",
}
"""Our self-trade prevention modes by their Binance names (Binance's NONE has no counterpart)."""
STP_BY_NAME = {name: mode for mode, name in STP_MODES.items()}
NS_PER_MS = 1_000_000


class Formats:
    """Amount formatting for one market."""

    def __init__(self, runtime: Runtime, market: Market) -> None:
        assets = runtime.engine.state.assets
        self.market = market
        self.symbol = binance_symbol(market)
        self.base_scale = assets[market.base]
        self.quote_scale = assets[market.quote]

    def price(self, units: int) -> str:
        """A price (quote units per base unit) or quote amount."""
        return format_amount(units, self.quote_scale)

    def qty(self, units: int) -> str:
        """A base quantity."""
        return format_amount(units, self.base_scale)


def order_type(kind: str, post_only: bool) -> str:
    """LIMIT, LIMIT_MAKER (post-only limit) or MARKET."""
    if kind == "market":
        return "MARKET"
    return "LIMIT_MAKER" if post_only else "LIMIT"


def order_status(status: str, filled: int, reason: str = "") -> str:
    """Binance order status from ours."""
    if status == "open":
        return "PARTIALLY_FILLED" if filled else "NEW"
    if status == "filled":
        return "FILLED"
    if status == "cancelled":
        return "EXPIRED_IN_MATCH" if reason == "self_trade_prevention" else "CANCELED"
    return "EXPIRED"


def order_view(fmt: Formats, row: OrderRecord, stp: SelfTradePrevention | None = None) -> dict[str, Any]:
    """An order as GET /api/v3/order answers it."""
    market_order = row.type == "market"
    view: dict[str, Any] = {
        "symbol": fmt.symbol,
        "orderId": row.order_id,
        "orderListId": -1,
        "clientOrderId": row.client_order_id,
        "price": fmt.price(0 if market_order else row.price),
        "origQty": fmt.qty(row.quantity or row.filled),
        "executedQty": fmt.qty(row.filled),
        "cummulativeQuoteQty": fmt.price(row.quote_filled),
        "status": order_status(row.status, row.filled, row.reason),
        "timeInForce": row.tif.upper(),
        "type": order_type(row.type, row.post_only),
        "side": row.side.upper(),
        "stopPrice": fmt.price(0),
        "icebergQty": fmt.qty(0),
        "time": to_ms(row.created_at),
        "updateTime": to_ms(row.updated_at),
        "isWorking": row.status == "open" or not market_order,
        "workingTime": to_ms(row.created_at),
        "origQuoteOrderQty": fmt.price(row.quote_amount),
    }
    if stp is not None:
        view["selfTradePreventionMode"] = STP_MODES[stp]
    return view


def my_trade_view(fmt: Formats, row: FillRecord) -> dict[str, Any]:
    """A fill as GET /api/v3/myTrades answers it."""
    return {
        "symbol": fmt.symbol,
        "id": row.trade_id,
        "orderId": row.order_id,
        "orderListId": -1,
        "price": fmt.price(row.price),
        "qty": fmt.qty(row.quantity),
        "quoteQty": fmt.price(row.quote_quantity),
        "commission": fmt.price(row.fee),
        "commissionAsset": fmt.market.quote,
        "time": to_ms(row.ts),
        "isBuyer": row.side == "buy",
        "isMaker": row.liquidity == "maker",
        "isBestMatch": True,
    }


def trade_view(fmt: Formats, row: TradeRecord) -> dict[str, Any]:
    """A public trade as GET /api/v3/trades answers it."""
    return {
        "id": row.trade_id,
        "price": fmt.price(row.price),
        "qty": fmt.qty(row.quantity),
        "quoteQty": fmt.price(row.quote_quantity),
        "time": to_ms(row.ts),
        "isBuyerMaker": row.taker_side == "sell",
        "isBestMatch": True,
    }


def agg_trades(fmt: Formats, rows: list[TradeRecord]) -> list[dict[str, Any]]:
    """Trades of one taker order (one seq) at one price merged, as GET /api/v3/aggTrades answers them.

    The aggregate's id `a` is the id of its first trade, so `fromId` selects by trade id.
    """
    out: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    key: tuple[int, int] | None = None
    quantity = 0
    for row in rows:
        if current is not None and key == (row.seq, row.price):
            quantity += row.quantity
            current["q"] = fmt.qty(quantity)
            current["l"] = row.trade_id
            continue
        key, quantity = (row.seq, row.price), row.quantity
        current = {
            "a": row.trade_id,
            "p": fmt.price(row.price),
            "q": fmt.qty(row.quantity),
            "f": row.trade_id,
            "l": row.trade_id,
            "T": to_ms(row.ts),
            "m": row.taker_side == "sell",
            "M": True,
        }
        out.append(current)
    return out
