"""Request and response bodies of the REST API. Money is always a decimal string on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from wcx.engine import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce

DecimalStr = Annotated[str, Field(examples=["0.0012"], description="a plain decimal string (no exponent)")]
# Amounts arrive as strings so that no JSON float ever touches money; parsed later against asset scales.
DecimalIn = Annotated[StrictStr, Field(max_length=64, examples=["0.0012"])]

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerTime(BaseModel):
    """The server clock."""

    time_ms: int
    iso: datetime


class AssetOut(BaseModel):
    """An asset and the decimals of its minor unit."""

    code: str
    scale: int


class MarketOut(BaseModel):
    """A market's filters (decimal strings in the quote / base asset) and status."""

    symbol: str
    base: str
    quote: str
    status: MarketStatus
    tick_size: DecimalStr
    lot_step: DecimalStr
    min_quantity: DecimalStr
    max_quantity: DecimalStr
    min_notional: DecimalStr
    price_decimals: int
    quantity_decimals: int


class BookOut(BaseModel):
    """Aggregated levels, best first, as [price, quantity]; `seq` is the engine sequence they reflect."""

    symbol: str
    seq: int
    bids: list[tuple[DecimalStr, DecimalStr]]
    asks: list[tuple[DecimalStr, DecimalStr]]


class TradeOut(BaseModel):
    """A public trade."""

    trade_id: int
    symbol: str
    price: DecimalStr
    quantity: DecimalStr
    quote_quantity: DecimalStr
    taker_side: Side
    seq: int
    time: datetime


class CandleOut(BaseModel):
    """One OHLCV candle."""

    open_time: datetime
    open: DecimalStr
    high: DecimalStr
    low: DecimalStr
    close: DecimalStr
    volume: DecimalStr
    quote_volume: DecimalStr
    trades: int


class TickerOut(BaseModel):
    """Rolling 24-hour statistics and the current top of book."""

    symbol: str
    last: DecimalStr | None
    open: DecimalStr | None
    high: DecimalStr | None
    low: DecimalStr | None
    volume: DecimalStr
    quote_volume: DecimalStr
    trades: int
    best_bid: DecimalStr | None
    best_ask: DecimalStr | None
    seq: int


class BalanceOut(BaseModel):
    """What an account holds of one asset; `held` backs open orders and pending withdrawals."""

    asset: str
    available: DecimalStr
    held: DecimalStr
    total: DecimalStr


class OrderIn(_Strict):
    """A new order. Limit orders need price and quantity; market orders quantity or quote_amount."""

    symbol: StrictStr = Field(max_length=32)
    side: Side
    type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    price: DecimalIn | None = None
    quantity: DecimalIn | None = None
    quote_amount: DecimalIn | None = None
    post_only: StrictBool = False
    client_order_id: StrictStr = Field("", max_length=64)
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_TAKER


class FillOut(BaseModel):
    """One side of a trade, seen by the account that traded."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    liquidity: str
    price: DecimalStr
    quantity: DecimalStr
    quote_quantity: DecimalStr
    fee: DecimalStr
    fee_asset: str
    seq: int
    time: datetime | None = None


class OrderOut(BaseModel):
    """An order as its owner sees it (status: open, filled, cancelled, expired, rejected)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    price: DecimalStr
    quantity: DecimalStr
    quote_amount: DecimalStr
    post_only: bool
    status: str
    filled: DecimalStr
    remaining: DecimalStr
    fee: DecimalStr
    reason: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PlacedOrder(OrderOut):
    """The answer to a new order: the order and the fills it made on arrival."""

    fills: list[FillOut] = []


class CancelledOut(BaseModel):
    """Orders a cancel request removed from the book."""

    cancelled: list[int]


class Page(BaseModel, Generic[T]):
    """A page of history, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None


class AccountOut(BaseModel):
    """Who the caller is and what they pay."""

    user_id: int
    email: str | None
    permissions: list[str]
    api_key_id: int | None
    maker_fee_bps: int
    taker_fee_bps: int
    open_orders: int


class DevCreditIn(_Strict):
    """A development credit (loopback only, development only)."""

    email: StrictStr = Field(max_length=254)
    asset: StrictStr = Field(max_length=12)
    amount: DecimalIn


class DevCreditOut(BaseModel):
    """What a development credit did."""

    user_id: int
    asset: str
    amount: DecimalStr
    available: DecimalStr
    reference: str
