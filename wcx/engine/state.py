"""Everything the engine knows: assets, markets, accounts, open orders, references."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from wcx.engine.book import OrderBook
from wcx.engine.commands import MarketStatus
from wcx.engine.orders import Order

FEE_ACCOUNT = -1
"""System account collecting fee income, per asset."""
OMNIBUS_ACCOUNT = -2
"""System account deposits come from and withdrawals go to; its balance mirrors the outside world."""
ADJUSTMENT_ACCOUNT = -3
"""System account on the other side of admin balance adjustments."""
SYSTEM_ACCOUNTS = (FEE_ACCOUNT, OMNIBUS_ACCOUNT, ADJUSTMENT_ACCOUNT)


class Balance:
    """One account's funds in one asset, in minor units. Orders keep a reference to the balances they
    move, so a fill updates native attributes instead of looking the asset up in dicts."""

    __slots__ = ("available", "held")

    def __init__(self) -> None:
        self.available = 0
        self.held = 0


class Account:
    """Balances of one account per asset, its open orders and their client ids."""

    __slots__ = ("balances", "client_ids", "id", "orders")

    def __init__(self, account_id: int) -> None:
        self.id = account_id
        self.balances: dict[str, Balance] = {}
        self.orders: dict[int, Order] = {}
        self.client_ids: dict[str, Order] = {}

    def balance(self, asset: str) -> Balance:
        """The balance in `asset`, created empty on first use."""
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance()
        return balance

    @property
    def available(self) -> Mapping[str, int]:
        """Available minor units per asset this account has had (read-only: change `balance(asset)`)."""
        return MappingProxyType({asset: balance.available for asset, balance in self.balances.items()})

    @property
    def held(self) -> Mapping[str, int]:
        """Held minor units per asset this account has had (read-only: change `balance(asset)`)."""
        return MappingProxyType({asset: balance.held for asset, balance in self.balances.items()})


class Market:
    """A market's specification, status and book."""

    __slots__ = (
        "base",
        "base_unit",
        "book",
        "fee_income",
        "lot_step",
        "lot_tick_value",
        "max_quantity",
        "min_notional",
        "min_notional_scaled",
        "min_quantity",
        "quote",
        "status",
        "symbol",
        "tick_size",
    )

    def __init__(
        self,
        symbol: str,
        base: str,
        quote: str,
        base_scale: int,
        tick_size: int,
        lot_step: int,
        min_quantity: int,
        max_quantity: int,
        min_notional: int,
        status: MarketStatus,
        fee_income: Balance,
    ) -> None:
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.base_unit: int = 10**base_scale
        self.tick_size = tick_size
        self.lot_step = lot_step
        self.min_quantity = min_quantity
        self.max_quantity = max_quantity
        self.min_notional = min_notional
        # min_notional × base unit: the notional check becomes a division of small numbers rather
        # than a product that overflows machine words (price × quantity in minor units).
        self.min_notional_scaled: int = min_notional * self.base_unit
        # Quote minor units of one lot at one tick: a whole number (the engine rejects markets where
        # tick × step is not a multiple of the base unit).
        self.lot_tick_value: int = tick_size * lot_step // self.base_unit
        self.status = status
        self.book = OrderBook()
        # The fee account's balance in the quote asset, where every trade's fees go.
        self.fee_income = fee_income

    def notional(self, price: int, quantity: int) -> int:
        """Quote minor units of `quantity` at `price`, a whole number of lots at a whole number of ticks.

        Ticks × lots × the value of one lot at one tick equals price × quantity ÷ base unit exactly, and
        keeps every factor small: mypyc multiplies machine words only when both are below 2^30, and
        a price in minor units alone exceeds that, which sends price × quantity to big integers.
        """
        return (price // self.tick_size) * ((quantity // self.lot_step) * self.lot_tick_value)


@dataclass(slots=True)
class Withdrawal:
    """A pending withdrawal's held funds."""

    account: int
    asset: str
    amount: int
    fee: int


@dataclass(slots=True)
class EngineState:
    """The whole deterministic state. Only the engine's handlers mutate it."""

    assets: dict[str, int] = field(default_factory=dict)
    markets: dict[str, Market] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    default_fees: tuple[int, int] = (0, 0)
    fee_overrides: dict[int, tuple[int, int]] = field(default_factory=dict)
    deposit_refs: set[str] = field(default_factory=set)
    adjustment_refs: set[str] = field(default_factory=set)
    withdrawal_ids: set[str] = field(default_factory=set)
    withdrawals: dict[str, Withdrawal] = field(default_factory=dict)
    next_order_id: int = 1
    next_trade_id: int = 1
    last_seq: int = 0

    def __post_init__(self) -> None:
        for account_id in SYSTEM_ACCOUNTS:
            self.account(account_id)

    def account(self, account_id: int) -> Account:
        """The account with this id, created empty on first use."""
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = Account(account_id)
        return account

    def fees_for(self, account_id: int) -> tuple[int, int]:
        """(maker_bps, taker_bps) that apply to an account."""
        return self.fee_overrides.get(account_id, self.default_fees)

    def balance(self, account_id: int, asset: str) -> tuple[int, int]:
        """(available, held) of an account in one asset."""
        account = self.accounts.get(account_id)
        balance = account.balances.get(asset) if account is not None else None
        if balance is None:
            return 0, 0
        return balance.available, balance.held
