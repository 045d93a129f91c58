"""Commands: imperative, immutable requests to the engine. Amounts are integer minor units.

Prices are quote minor units per one whole base unit; quantities are base minor units.
`seq` and `ts` are not part of a command: the sequencer assigns them.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """Limit orders carry a price; market orders optionally a protection bound."""

    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    """How long an order's unfilled part lives."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class SelfTradePrevention(StrEnum):
    """What happens when a taker would trade against its own account's resting order."""

    CANCEL_TAKER = "cancel_taker"
    CANCEL_MAKER = "cancel_maker"
    CANCEL_BOTH = "cancel_both"


class MarketStatus(StrEnum):
    """Trading: everything allowed; cancel-only: only cancels; halted: nothing changes."""

    TRADING = "trading"
    CANCEL_ONLY = "cancel_only"
    HALTED = "halted"


class _Command(
    msgspec.Struct, frozen=True, tag=True, tag_field="kind", array_like=True, omit_defaults=True, gc=False
):
    """Base of every command. Only scalars inside, so never in a reference cycle: not tracked by the
    garbage collector (the API remembers recent placements, which would otherwise be rescanned)."""


class AddAsset(_Command, frozen=True, tag="asset"):
    """Register an asset and the decimals of its minor unit."""

    code: str
    scale: int


class AddMarket(_Command, frozen=True, tag="market"):
    """Open a market; tick × step must be a whole quote minor unit per base unit."""

    symbol: str
    base: str
    quote: str
    tick_size: int
    lot_step: int
    min_quantity: int
    max_quantity: int
    min_notional: int = 0
    status: MarketStatus = MarketStatus.TRADING


class SetMarketStatus(_Command, frozen=True, tag="status"):
    """Switch a market between trading, cancel-only and halted."""

    symbol: str
    status: MarketStatus


class SetFeeSchedule(_Command, frozen=True, tag="fees"):
    """Set the default fees, or one account's override (account set); `clear` drops an override."""

    maker_bps: int
    taker_bps: int
    account: int | None = None
    clear: bool = False


class CreditDeposit(_Command, frozen=True, tag="deposit"):
    """Credit an account from the asset's omnibus account, once per external reference."""

    account: int
    asset: str
    amount: int
    reference: str


class HoldWithdrawal(_Command, frozen=True, tag="wd_hold"):
    """Move amount + fee of an account from available to held for a pending withdrawal."""

    withdrawal_id: str
    account: int
    asset: str
    amount: int
    fee: int = 0


class SettleWithdrawal(_Command, frozen=True, tag="wd_settle"):
    """The withdrawal left the exchange: amount to the omnibus account, fee to fee income."""

    withdrawal_id: str


class ReleaseWithdrawal(_Command, frozen=True, tag="wd_release"):
    """The withdrawal was rejected or failed: give the held funds back."""

    withdrawal_id: str


class AdjustBalance(_Command, frozen=True, tag="adjust"):
    """Admin correction against the adjustments account, idempotent by reference."""

    account: int
    asset: str
    delta: int
    reason: str
    reference: str


class PlaceOrder(_Command, frozen=True, tag="place"):
    """Place an order. Market orders give quantity (base) or quote_amount, and price as a bound."""

    account: int
    symbol: str
    side: Side
    type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    price: int = 0
    quantity: int = 0
    quote_amount: int = 0
    post_only: bool = False
    client_order_id: str = ""
    stp: SelfTradePrevention = SelfTradePrevention.CANCEL_TAKER


class CancelOrder(_Command, frozen=True, tag="cancel"):
    """Cancel one open order by order id or by the account's client order id."""

    account: int
    order_id: int = 0
    client_order_id: str = ""
    admin: bool = False


class CancelAll(_Command, frozen=True, tag="cancel_all"):
    """Cancel every open order of an account, optionally only in one market."""

    account: int
    symbol: str = ""
    admin: bool = False


class AmendOrder(_Command, frozen=True, tag="amend"):
    """Change an open order's total quantity and/or price; only a quantity decrease keeps priority."""

    account: int
    order_id: int = 0
    client_order_id: str = ""
    quantity: int = 0
    price: int = 0


Command = (
    AddAsset
    | AddMarket
    | SetMarketStatus
    | SetFeeSchedule
    | CreditDeposit
    | HoldWithdrawal
    | SettleWithdrawal
    | ReleaseWithdrawal
    | AdjustBalance
    | PlaceOrder
    | CancelOrder
    | CancelAll
    | AmendOrder
)
