"""Open orders and the arithmetic of what they hold and what they pay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from wcx.engine.commands import OrderType, SelfTradePrevention, TimeInForce

if TYPE_CHECKING:
    from wcx.engine.book import Level
    from wcx.engine.state import Account, Balance

BPS: Final = 10_000


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding up (towards the exchange for fees)."""
    return -(-numerator // denominator)


class Order:
    """A live order. Mutable on purpose: it sits in the book's hot path.

    An engine order is `attach`ed to its account: `funds` is the balance its hold comes from (quote
    for a buy, base for a sell) and `proceeds` the one its fills credit, created at the first fill.
    A resting order knows its price `level`, so fills and cancels need no lookup by price.
    """

    owner: Account
    funds: Balance
    proceeds: Balance | None
    level: Level

    __slots__ = (
        "account",
        "client_order_id",
        "fee_num",
        "fee_paid",
        "filled",
        "funds",
        "hold",
        "id",
        "is_buy",
        "is_open",
        "level",
        "maker_bps",
        "owner",
        "post_only",
        "price",
        "proceeds",
        "quantity",
        "remaining",
        "reserve_bps",
        "stp",
        "symbol",
        "taker_bps",
        "tif",
        "type",
    )

    def __init__(
        self,
        order_id: int,
        account: int,
        symbol: str,
        is_buy: bool,
        order_type: OrderType,
        tif: TimeInForce,
        price: int,
        quantity: int,
        client_order_id: str,
        post_only: bool,
        stp: SelfTradePrevention,
        maker_bps: int,
        taker_bps: int,
    ) -> None:
        self.id = order_id
        self.account = account
        self.symbol = symbol
        self.is_buy = is_buy
        self.type = order_type
        self.tif = tif
        self.price = price
        self.quantity = quantity
        self.remaining = quantity
        self.filled = 0
        self.client_order_id = client_order_id
        self.post_only = post_only
        self.stp = stp
        self.maker_bps = maker_bps
        self.taker_bps = taker_bps
        # Not max(): a generic builtin call that boxes both under mypyc.
        self.reserve_bps = maker_bps if maker_bps >= taker_bps else taker_bps
        # Fees accrue as an exact numerator (notional × bps) and are charged as the rounded-up
        # running total, so many small fills never pay more than one fill of the same size.
        self.fee_num = 0
        self.fee_paid = 0
        self.hold = 0
        self.is_open = True

    def attach(self, owner: Account, funds: Balance) -> None:
        """Bind the order to its account and the balance its hold comes from."""
        self.owner = owner
        self.funds = funds
        self.proceeds = None

    def charge_fee(self, notional: int, bps: int) -> int:
        """Accrue the fee on `notional` at `bps` and return the minor units due now."""
        self.fee_num += notional * bps
        paid = -(-self.fee_num // BPS)
        fee = paid - self.fee_paid
        self.fee_paid = paid
        return fee

    def required_hold(self, base_unit: int) -> int:
        """What this order must keep held for its open remainder (quote for buys, base for sells)."""
        return self.hold_for(self.price * self.remaining // base_unit)

    def hold_for(self, notional: int) -> int:
        """`required_hold`, given `notional`: the quote value of the open remainder at the order's price."""
        if not self.is_buy:
            return self.remaining
        return notional + ceil_div(self.fee_num + notional * self.reserve_bps, BPS) - self.fee_paid
