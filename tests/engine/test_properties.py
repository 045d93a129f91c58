"""Stateful property test: random command streams through the engine, the reference book as oracle.

After every command: value is conserved per asset, no book is crossed, holds equal what open orders
and pending withdrawals need, nothing is negative, the fast book equals the reference book order by
order, trades and fees are what the reference says, and a replica fed every command through the
journal codec (and restarted from its own snapshot now and then) emits the same events and has the
same state hash. Snapshots taken at random points plus a tail replay must reproduce the live state
and events.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TypeVar

from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from wcx.config.markets import MarketSpec, ReferenceData
from wcx.engine import (
    AdjustBalance,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CreditDeposit,
    Engine,
    Event,
    HoldWithdrawal,
    MarketStatus,
    OrderType,
    PlaceOrder,
    Reject,
    ReleaseWithdrawal,
    SelfTradePrevention,
    SetFeeSchedule,
    SetMarketStatus,
    SettleWithdrawal,
    Side,
    TimeInForce,
)
from wcx.engine.admin import MAX_FEE_BPS
from wcx.engine.book import BookSide, Level
from wcx.engine.events import (
    FeeScheduleChanged,
    MarketStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from wcx.engine.state import FEE_ACCOUNT, SYSTEM_ACCOUNTS
from wcx.journal.codec import decode_record, encode_record
from wcx.primitives import Asset
from wcx.testing.harness import EngineHarness
from wcx.testing.reference_book import BPS, Outcome, ReferenceBook

# Small scales keep failing examples readable. AAA-QQQ: price 1.00 QQQ steps, 0.1 AAA lots.
# BBB-AAA: price 0.05 AAA steps, 0.2 BBB lots. AAA is the base of one market and the quote of the other.
DATA = ReferenceData(
    assets=(Asset("AAA", 2), Asset("BBB", 1), Asset("QQQ", 2)),
    markets=(
        MarketSpec("AAA-QQQ", "AAA", "QQQ", 100, 10, 10, 1_000, 20, 0),
        MarketSpec("BBB-AAA", "BBB", "AAA", 5, 2, 2, 200, 2, 0),
    ),
    maker_bps=10,
    taker_bps=20,
)
SCALES = {asset.code: asset.scale for asset in DATA.assets}
SPECS = {spec.symbol: spec for spec in DATA.markets}
ACCOUNTS = (1, 2, 3)
BOOK_CODES = (Reject.POST_ONLY_WOULD_CROSS, Reject.NO_LIQUIDITY, Reject.FOK_CANNOT_FILL)
STATUS_CODES = {
    MarketStatus.HALTED: Reject.MARKET_HALTED,
    MarketStatus.CANCEL_ONLY: Reject.MARKET_CANCEL_ONLY,
}

accounts = st.sampled_from(ACCOUNTS)
assets = st.sampled_from(sorted(SCALES))
symbols = st.sampled_from(sorted(SPECS))
sides = st.sampled_from(Side)
stps = st.sampled_from(SelfTradePrevention)
ticks = st.integers(1, 12)
lots = st.integers(1, 20)
bounds = st.just(0) | ticks  # a market order's protection bound; 0: none
client_ids = st.sampled_from(["", "", "", "a", "b"])


def references(prefix: str, count: int) -> st.SearchStrategy[str]:
    """Idempotency keys from a small pool, so that they repeat."""
    return st.integers(0, count - 1).map(lambda n: f"{prefix}-{n}")


fee_bps = st.sampled_from([0, 1, 10, 20, 333, MAX_FEE_BPS, MAX_FEE_BPS + 1])
amounts = st.integers(1, 20_000)
withdrawal_ids = references("wd", 8)
back_office_commands = st.one_of(
    st.builds(CreditDeposit, accounts, assets, amounts, references("dep", 30)),
    st.builds(
        AdjustBalance, accounts, assets, st.integers(-5_000, 5_000), st.just("fix"), references("adj", 30)
    ),
    st.builds(HoldWithdrawal, withdrawal_ids, accounts, assets, amounts, st.integers(0, 50)),
    st.builds(SettleWithdrawal, withdrawal_ids),
    st.builds(ReleaseWithdrawal, withdrawal_ids),
    st.builds(SetFeeSchedule, fee_bps, fee_bps, st.none() | accounts, st.booleans()),
    st.builds(
        SetMarketStatus,
        symbols,
        st.sampled_from([MarketStatus.TRADING] * 4 + [MarketStatus.CANCEL_ONLY, MarketStatus.HALTED]),
    ),
)


@st.composite
def limit_orders(draw: st.DrawFn) -> PlaceOrder:
    """A limit order, mostly GTC (post-only sometimes), else IOC or FOK."""
    spec = SPECS[draw(symbols)]
    tif = draw(st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK]))
    return PlaceOrder(
        draw(accounts),
        spec.symbol,
        draw(sides),
        OrderType.LIMIT,
        tif,
        draw(ticks) * spec.tick_size,
        draw(lots) * spec.lot_step,
        post_only=tif is TimeInForce.GTC and draw(st.sampled_from([False, False, False, True])),
        client_order_id=draw(client_ids),
        stp=draw(stps),
    )


@st.composite
def market_orders(draw: st.DrawFn) -> PlaceOrder:
    """A market order by base quantity (IOC or FOK) or by quote amount, with or without a price bound."""
    spec = SPECS[draw(symbols)]
    lot_value = spec.tick_size * spec.lot_step // 10 ** SCALES[spec.base]  # one lot at one tick, in quote
    by_quote = draw(st.booleans())
    return PlaceOrder(
        draw(accounts),
        spec.symbol,
        draw(sides),
        OrderType.MARKET,
        TimeInForce.IOC if by_quote else draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK])),
        draw(bounds) * spec.tick_size,
        0 if by_quote else draw(lots) * spec.lot_step,
        draw(st.integers(1, 300 * lot_value)) if by_quote else 0,
        client_order_id=draw(client_ids),
        stp=draw(stps),
    )


OpenOrder = tuple[int, int, str, str]  # order id, account, symbol, client order id


def cancels(open_orders: list[OpenOrder]) -> st.SearchStrategy[Command]:
    """Cancel an open order by id or client id, or an id that is unknown or someone else's."""
    strangers = st.builds(CancelOrder, accounts, st.integers(1, 40))
    if not open_orders:
        return strangers
    by_id = [CancelOrder(account, order_id) for order_id, account, _, _ in open_orders]
    by_client_id = [CancelOrder(account, client_order_id=cid) for _, account, _, cid in open_orders if cid]
    return st.sampled_from(by_id + by_client_id) | strangers


@st.composite
def amends(draw: st.DrawFn, open_orders: list[OpenOrder]) -> AmendOrder:
    """Change an open order's price and/or total quantity."""
    order_id, account, symbol, client_id = draw(st.sampled_from(open_orders))
    spec = SPECS[symbol]
    # 0 keeps the current value.
    quantity, price = draw(st.just(0) | lots) * spec.lot_step, draw(st.just(0) | ticks) * spec.tick_size
    if client_id and draw(st.booleans()):
        return AmendOrder(account, client_order_id=client_id, quantity=quantity, price=price)
    return AmendOrder(account, order_id, quantity=quantity, price=price)


cancel_alls = st.builds(CancelAll, accounts, st.sampled_from(["", *sorted(SPECS)]), st.booleans())
# Weights: mostly limit orders, so that books fill up and market orders, cancels and amends find something.
TRADING_MIX = ("limit",) * 6 + ("market", "market", "cancel", "cancel_all", "amend", "amend")


def trading_commands(kind: str, open_orders: list[OpenOrder]) -> st.SearchStrategy[Command]:
    """Commands of one kind of the trading mix, drawn against the orders open now."""
    if kind == "limit":
        return limit_orders()
    if kind == "market":
        return market_orders()
    if kind == "cancel_all":
        return cancel_alls
    if kind == "amend" and open_orders:
        return amends(open_orders)
    return cancels(open_orders)


E = TypeVar("E", bound=Event)


def of(events: list[Event], kind: type[E]) -> list[E]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, kind)]


@dataclass
class FeeTrack:
    """An order's fee rates at acceptance and its running fee total, restated independently of the engine."""

    maker_bps: int
    taker_bps: int
    numerator: int = 0
    paid: int = 0

    def charge(self, notional: int, bps: int) -> int:
        """The fee due now: the rounded-up running total minus what was already paid."""
        self.numerator += notional * bps
        due = -(-self.numerator // BPS) - self.paid
        self.paid += due
        return due


class EngineMachine(RuleBasedStateMachine):
    """Drives an EngineHarness and mirrors every accepted order into one ReferenceBook per market."""

    def __init__(self) -> None:
        super().__init__()
        self.harness = EngineHarness(DATA)
        self.replica = Engine()
        for record in self.harness.log:
            self.replica.apply(*record)
        # Events of each logged command, by log position (set-up commands' are not needed).
        self.events: list[list[Event]] = [[] for _ in self.harness.log]
        self.books = {s.symbol: ReferenceBook(10 ** SCALES[s.base], s.lot_step) for s in DATA.markets}
        self.status = dict.fromkeys(SPECS, MarketStatus.TRADING)
        self.default_fees = (DATA.maker_bps, DATA.taker_bps)
        self.fee_overrides: dict[int, tuple[int, int]] = {}
        self.fees: dict[int, FeeTrack] = {}
        self.snapshots: list[tuple[int, bytes, str]] = []

    # ---- driving --------------------------------------------------------------------------

    def apply(self, command: Command) -> list[Event]:
        """Apply to the engine, and to the replica exactly as the journal would hand it back: same events."""
        events = self.harness.apply(command)
        record = self.harness.log[-1]
        decoded = decode_record(encode_record(record))
        assert decoded == record
        assert self.replica.apply(*decoded) == events, "the replica diverged"
        self.events.append(events)
        self.follow(command, events)
        return events

    def open_orders(self) -> list[OpenOrder]:
        """The engine's open orders, oldest first."""
        orders = sorted(self.harness.engine.state.orders.items())
        return [(order_id, o.account, o.symbol, o.client_order_id) for order_id, o in orders]

    def fees_for(self, account: int) -> tuple[int, int]:
        """(maker, taker) bps the fee model says apply to an account now."""
        return self.fee_overrides.get(account, self.default_fees)

    # ---- following the events with the reference model -----------------------------------

    def follow(self, command: Command, events: list[Event]) -> None:
        """Check the events against the model and feed what the engine did to the reference books."""
        if isinstance(command, PlaceOrder):
            self.follow_place(command, events)
            return
        if isinstance(command, AmendOrder):
            self.follow_amend(command, events)
            return
        assert not any(
            isinstance(e, OrderFilled | OrderAccepted | OrderAmended | OrderExpired) for e in events
        )
        for cancelled in of(events, OrderCancelled):
            assert self.status[cancelled.symbol] is not MarketStatus.HALTED
            assert self.books[cancelled.symbol].cancel(cancelled.order_id) == cancelled.remaining
        if isinstance(command, CancelAll):
            # Nothing of the account is left in the targeted markets, except where a halt froze it.
            for order in self.harness.engine.state.orders.values():
                if order.account == command.account and command.symbol in ("", order.symbol):
                    assert self.status[order.symbol] is MarketStatus.HALTED, order.id
        for changed in of(events, MarketStatusChanged):
            self.status[changed.symbol] = changed.status
        if isinstance(command, SetFeeSchedule):
            valid = max(command.maker_bps, command.taker_bps) <= MAX_FEE_BPS
            assert bool(of(events, FeeScheduleChanged)) == valid
            if valid:
                self.follow_fees(command)

    def follow_fees(self, cmd: SetFeeSchedule) -> None:
        """Update the fee model: default rates, or one account's override set or cleared."""
        rates = (cmd.maker_bps, cmd.taker_bps)
        if cmd.account is None:
            self.default_fees = rates
        elif cmd.clear:
            self.fee_overrides.pop(cmd.account, None)
        else:
            self.fee_overrides[cmd.account] = rates

    def follow_place(self, cmd: PlaceOrder, events: list[Event]) -> None:
        """An accepted order must trade as the reference says; a book-based rejection must agree too."""
        book = self.books[cmd.symbol]
        status = self.status[cmd.symbol]
        taker_bps = self.fees_for(cmd.account)[1]
        accepted = of(events, OrderAccepted)
        if status is not MarketStatus.TRADING:
            assert [e.code for e in of(events, OrderRejected)] == [STATUS_CODES[status]], events
            return
        if not accepted:
            (rejected,) = of(events, OrderRejected)
            if rejected.code in (*BOOK_CODES, Reject.INSUFFICIENT_FUNDS):
                # Book checks come before the funds check: the reference must reach the same verdict.
                verdict = copy.deepcopy(book).place(0, cmd, taker_bps).rejected
                assert verdict == (rejected.code if rejected.code in BOOK_CODES else None), (cmd, events)
            return
        (order,) = accepted
        outcome = book.place(order.order_id, cmd, taker_bps)
        assert outcome.rejected is None, (cmd, events, outcome)
        assert order.quantity == outcome.quantity
        self.fees[order.order_id] = FeeTrack(*self.fees_for(cmd.account))
        self.check_matching(cmd.symbol, order.order_id, events, outcome)

    def follow_amend(self, cmd: AmendOrder, events: list[Event]) -> None:
        """An amend must keep or lose priority and trade as the reference says."""
        amended = of(events, OrderAmended)
        if not amended:
            (rejected,) = of(events, OrderRejected)
            if rejected.code is Reject.POST_ONLY_WOULD_CROSS:
                book = self.books[rejected.symbol]
                resting = book.find(rejected.order_id)
                price, quantity = cmd.price or resting.price, cmd.quantity or resting.quantity
                assert copy.deepcopy(book).amend(resting.order_id, price, quantity).rejected is rejected.code
            return
        (change,) = amended
        assert self.status[change.symbol] is MarketStatus.TRADING
        outcome = self.books[change.symbol].amend(change.order_id, change.price, change.quantity)
        assert outcome.rejected is None, (cmd, events, outcome)
        assert change.kept_priority == outcome.kept_priority
        self.check_matching(change.symbol, change.order_id, events, outcome)

    def check_matching(self, symbol: str, taker_id: int, events: list[Event], outcome: Outcome) -> None:
        """Trades, fees, self-trade cancels and expiry of one command against the reference outcome."""
        fills = of(events, OrderFilled)
        assert [(f.maker_order_id, f.price, f.quantity) for f in fills] == outcome.fills, events
        base_unit = 10 ** SCALES[SPECS[symbol].base]
        for fill in fills:
            assert fill.taker_order_id == taker_id
            assert fill.quote_quantity == fill.price * fill.quantity // base_unit
            maker, taker = self.fees[fill.maker_order_id], self.fees[taker_id]
            assert fill.maker_fee == maker.charge(fill.quote_quantity, maker.maker_bps)
            assert fill.taker_fee == taker.charge(fill.quote_quantity, taker.taker_bps)
        assert [e.order_id for e in of(events, OrderCancelled)] == outcome.cancelled, events
        assert bool(of(events, OrderExpired)) == outcome.expired, events

    # ---- rules ----------------------------------------------------------------------------

    @initialize(
        funding=st.lists(st.sampled_from([100_000, 10_000, 0]), min_size=9, max_size=9),
        orders=st.lists(limit_orders(), max_size=10),
    )
    def open_exchange(self, funding: list[int], orders: list[PlaceOrder]) -> None:
        """Fund every account with some (mostly plenty) of every asset, then seed the books."""
        pairs = [(account, asset) for account in ACCOUNTS for asset in sorted(SCALES)]
        for (account, asset), amount in zip(pairs, funding, strict=True):
            if amount:
                self.apply(CreditDeposit(account, asset, amount, f"seed-{account}-{asset}"))
        for order in orders:
            self.apply(order)

    @rule(data=st.data())
    def trade(self, data: st.DataObject) -> None:
        """One to four trading commands, each drawn against the orders open at that moment."""
        for _ in range(data.draw(st.integers(1, 4), label="commands")):
            kind = data.draw(st.sampled_from(TRADING_MIX), label="kind")
            self.apply(data.draw(trading_commands(kind, self.open_orders()), label=kind))

    @rule(command=back_office_commands)
    def back_office(self, command: Command) -> None:
        """Deposits, adjustments, withdrawals, fee schedules and market status."""
        self.apply(command)

    @rule()
    def restart_replica(self) -> None:
        """The replica restarts from its own snapshot; from now on it must still emit the same events."""
        self.replica = Engine.restore(self.replica.snapshot())
        assert self.replica.state_hash() == self.harness.engine.state_hash()

    @rule()
    def take_snapshot(self) -> None:
        """Remember the state as of now, for a later restore."""
        engine = self.harness.engine
        self.snapshots.append((len(self.harness.log), engine.snapshot(), engine.state_hash()))

    @rule(pick=st.integers(0, 99))
    def restore_snapshot(self, pick: int) -> None:
        """A snapshot plus the tail of the log reproduces the live engine, events included."""
        if self.snapshots:
            self.check_restore(*self.snapshots[pick % len(self.snapshots)])

    def check_restore(self, position: int, data: bytes, digest: str) -> None:
        """Restore a snapshot, replay the log after it, and compare hashes and events."""
        engine = Engine.restore(data)
        assert engine.state_hash() == digest
        for (seq, ts, command), events in zip(
            self.harness.log[position:], self.events[position:], strict=True
        ):
            assert engine.apply(seq, ts, command) == events
        assert engine.state_hash() == self.harness.engine.state_hash()

    # ---- invariants -----------------------------------------------------------------------

    @invariant()
    def value_is_conserved(self) -> None:
        """Per asset, Σ(available + held) over every account, system ones included, stays 0."""
        for asset in SCALES:
            assert self.harness.total(asset) == 0, asset

    @invariant()
    def books_are_not_crossed(self) -> None:
        """The best bid is below the best ask in every market."""
        for symbol, market in self.harness.engine.state.markets.items():
            bid, ask = market.book.bids.best(), market.book.asks.best()
            assert bid is None or ask is None or bid.price < ask.price, symbol

    @invariant()
    def holds_match_orders_and_withdrawals(self) -> None:
        """Each held balance is exactly its open orders' holds plus pending withdrawals."""
        state = self.harness.engine.state
        expected: dict[tuple[int, str], int] = {}
        for w in state.withdrawals.values():
            expected[w.account, w.asset] = expected.get((w.account, w.asset), 0) + w.amount + w.fee
        for order in state.orders.values():
            market = state.markets[order.symbol]
            assert order.hold == order.required_hold(market.base_unit), order.id
            assert order.remaining > 0 and order.is_open, order.id
            assert state.accounts[order.account].orders.get(order.id) is order
            key = (order.account, market.quote if order.is_buy else market.base)
            expected[key] = expected.get(key, 0) + order.hold
        for account_id, account in state.accounts.items():
            assert set(account.orders) <= set(state.orders)
            assert all(state.orders[o.id] is o for o in account.client_ids.values())
            for asset in SCALES:
                assert account.held.get(asset, 0) == expected.get((account_id, asset), 0), (account_id, asset)

    @invariant()
    def nothing_is_negative(self) -> None:
        """User accounts and fee income never go below zero."""
        for account_id, account in self.harness.engine.state.accounts.items():
            if account_id in SYSTEM_ACCOUNTS and account_id != FEE_ACCOUNT:
                continue
            for asset in SCALES:
                assert account.available.get(asset, 0) >= 0, (account_id, asset)
                assert account.held.get(asset, 0) >= 0, (account_id, asset)

    @invariant()
    def fast_book_matches_reference(self) -> None:
        """Same orders, prices, remainders and priority; level totals and the cached best level agree."""
        state = self.harness.engine.state
        for symbol, market in state.markets.items():
            for side, expected in zip(
                (market.book.bids, market.book.asks), self.books[symbol].snapshot(), strict=True
            ):
                levels = list(side.iter_levels())
                actual = [(o.id, o.price, o.remaining) for level in levels for o in level.live_orders()]
                assert actual == expected, (symbol, side.is_bid)
                for level in levels:
                    live = list(level.live_orders())
                    assert level.live == len(live) and level.total == sum(o.remaining for o in live)
                    assert all(o.price == level.price for o in live), (symbol, level.price)
                assert side.best() is (levels[0] if levels else None), symbol
                assert side.total == sum(level.total for level in levels), symbol
                self._check_price_to_fill(side, levels)
            resting = sum(len(side) for side in self.books[symbol].snapshot())
            assert resting == sum(1 for o in state.orders.values() if o.symbol == symbol), symbol

    @staticmethod
    def _check_price_to_fill(side: BookSide, levels: list[Level]) -> None:
        """The fast pricing walk agrees with a cumulative sum over the levels, at every boundary."""
        cumulative = 0
        for level in levels:
            for probe in (cumulative + 1, cumulative + level.total):
                assert side.price_to_fill(probe) == level.price, (probe, level.price)
            cumulative += level.total
        assert side.price_to_fill(cumulative + 1) == (levels[-1].price if levels else 0)

    @invariant()
    def replica_has_the_same_state(self) -> None:
        """The engine fed the journal-codec round-tripped log has the same state hash."""
        assert self.replica.state_hash() == self.harness.engine.state_hash()

    def teardown(self) -> None:
        """A fresh replay of the whole log and the newest snapshot plus its tail reproduce the state."""
        assert self.harness.replay().state_hash() == self.harness.engine.state_hash()
        if self.snapshots:
            self.check_restore(*self.snapshots[-1])


TestEngineProperties = EngineMachine.TestCase
# Explaining a failure re-runs the long example many times; the shrunk example is explanation enough.
TestEngineProperties.settings = settings(
    max_examples=300,
    stateful_step_count=50,
    deadline=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
