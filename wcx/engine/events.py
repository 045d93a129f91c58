"""Events: past-tense, immutable facts the engine emits; each carries its command's seq and ts."""

from __future__ import annotations

import msgspec

from wcx.engine.codes import CancelReason, ExpireReason, Reject
from wcx.engine.commands import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce


class Event(
    msgspec.Struct, frozen=True, tag=True, tag_field="kind", array_like=True, omit_defaults=True, gc=False
):
    """Base of every event: the sequence number and timestamp (ns) of the causing command."""

    seq: int
    ts: int


class CommandRejected(Event, frozen=True, tag="rejected"):
    """A non-order command was refused; nothing changed."""

    code: Reject
    command: str


class AssetAdded(Event, frozen=True, tag="asset_added"):
    """An asset is now known."""

    code: str
    scale: int


class MarketAdded(Event, frozen=True, tag="market_added"):
    """A market is open with these filters."""

    symbol: str
    base: str
    quote: str
    tick_size: int
    lot_step: int
    min_quantity: int
    max_quantity: int
    min_notional: int
    status: MarketStatus


class MarketStatusChanged(Event, frozen=True, tag="market_status"):
    """A market's status changed."""

    symbol: str
    status: MarketStatus


class FeeScheduleChanged(Event, frozen=True, tag="fees_changed"):
    """Default fees (account None) or an account's override changed (cleared: override removed)."""

    maker_bps: int
    taker_bps: int
    account: int | None = None
    cleared: bool = False


class DepositCredited(Event, frozen=True, tag="deposit_credited"):
    """An external deposit moved from the omnibus account to the user."""

    account: int
    asset: str
    amount: int
    reference: str


class _WithdrawalEvent(Event, frozen=True):
    """A step in a withdrawal's life; every step names the same funds."""

    withdrawal_id: str
    account: int
    asset: str
    amount: int
    fee: int


class WithdrawalHeld(_WithdrawalEvent, frozen=True, tag="wd_held"):
    """Funds of a pending withdrawal are held."""


class WithdrawalSettled(_WithdrawalEvent, frozen=True, tag="wd_settled"):
    """A withdrawal left the exchange."""


class WithdrawalReleased(_WithdrawalEvent, frozen=True, tag="wd_released"):
    """A withdrawal's held funds went back to available."""


class BalanceAdjusted(Event, frozen=True, tag="adjusted"):
    """An admin adjustment against the adjustments account."""

    account: int
    asset: str
    delta: int
    reason: str
    reference: str


class OrderRejected(Event, frozen=True, tag="order_rejected"):
    """An order, cancel or amend was refused; nothing changed."""

    account: int
    symbol: str
    code: Reject
    order_id: int = 0
    client_order_id: str = ""


class OrderAccepted(Event, frozen=True, tag="order_accepted"):
    """An order passed validation and risk; `hold` is what was set aside for it."""

    order_id: int
    account: int
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int
    quantity: int
    quote_amount: int
    hold: int
    post_only: bool = False
    client_order_id: str = ""
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_TAKER


class OrderFilled(Event, frozen=True, tag="trade"):
    """A trade between a resting maker and an incoming taker; fees are charged in the quote asset."""

    trade_id: int
    symbol: str
    price: int
    quantity: int
    quote_quantity: int
    taker_side: Side
    maker_order_id: int
    maker_account: int
    maker_fee: int
    maker_remaining: int
    taker_order_id: int
    taker_account: int
    taker_fee: int
    taker_remaining: int


class OrderCancelled(Event, frozen=True, tag="order_cancelled"):
    """An order's open remainder was cancelled and its hold released."""

    order_id: int
    account: int
    symbol: str
    remaining: int
    reason: CancelReason
    client_order_id: str = ""


class OrderExpired(Event, frozen=True, tag="order_expired"):
    """The unfilled remainder of a taker order did not rest (IOC, market order, price bound)."""

    order_id: int
    account: int
    symbol: str
    remaining: int
    reason: ExpireReason
    client_order_id: str = ""


class OrderAmended(Event, frozen=True, tag="order_amended"):
    """An open order's quantity or price changed; `kept_priority` says whether it kept its place."""

    order_id: int
    account: int
    symbol: str
    price: int
    quantity: int
    remaining: int
    kept_priority: bool
    hold: int
