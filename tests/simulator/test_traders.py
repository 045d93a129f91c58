"""The simulated traders send only valid commands, know their open orders exactly, and replay exactly."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from wcx.engine import AmendOrder, CancelOrder, Command, OrderType, PlaceOrder, Reject, TimeInForce
from wcx.engine.events import CommandRejected, OrderCancelled, OrderFilled, OrderRejected
from wcx.simulator.traders import DemoTraders
from wcx.testing.harness import EngineHarness

STEPS = 4_000
# A synchronous driver never races, but these are the outcomes a real market can produce for a sane trader.
EXPECTED_REJECTIONS = {Reject.NO_LIQUIDITY, Reject.UNKNOWN_ORDER}


@dataclass
class Run:
    """A harness driven by the traders for some steps, with what was sent and what came back."""

    harness: EngineHarness
    traders: DemoTraders
    commands: list[Command] = field(default_factory=list)
    trades: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    cancel_reasons: Counter[str] = field(default_factory=Counter)


def drive(seed: int, steps: int = STEPS) -> Run:
    """Fund the traders, then send `steps` of their commands through an engine harness."""
    harness = EngineHarness()
    run = Run(harness, DemoTraders(harness.data, seed=seed))
    for command in run.traders.funding():
        assert not any(isinstance(e, CommandRejected) for e in harness.apply(command))
    for _ in range(steps):
        command = run.traders.next_command()
        events = harness.apply(command)
        run.traders.observe(events)
        run.commands.append(command)
        for event in events:
            if isinstance(event, OrderFilled):
                run.trades[event.symbol] += 1
            elif isinstance(event, OrderRejected | CommandRejected):
                run.rejections[event.code] += 1
            elif isinstance(event, OrderCancelled):
                run.cancel_reasons[event.reason] += 1
    return run


def scale_of(run: Run, asset: str) -> int:
    """Decimals of an asset of the run's reference data."""
    return next(a.scale for a in run.harness.data.assets if a.code == asset)


@pytest.fixture(scope="module")
def run() -> Run:
    return drive(seed=7)


def test_rejections_are_rare_and_of_the_expected_kinds(run: Run) -> None:
    assert set(run.rejections) <= EXPECTED_REJECTIONS
    assert sum(run.rejections.values()) < STEPS // 100


def test_orders_respect_every_market_filter(run: Run) -> None:
    markets = {m.symbol: m for m in run.harness.data.markets}
    places = [c for c in run.commands if isinstance(c, PlaceOrder)]
    for place in places:
        spec = markets[place.symbol]
        assert place.price % spec.tick_size == 0
        if place.quantity:
            assert place.quantity % spec.lot_step == 0
            assert spec.min_quantity <= place.quantity <= spec.max_quantity
        if place.type is OrderType.LIMIT:
            assert place.price * place.quantity // 10 ** scale_of(run, spec.base) >= spec.min_notional
        else:
            assert place.quote_amount == 0 or place.quote_amount >= spec.min_notional


def test_every_market_trades_and_every_kind_of_command_is_sent(run: Run) -> None:
    assert set(run.trades) == {m.symbol for m in run.harness.data.markets}
    assert min(run.trades.values()) >= 100
    kinds = Counter(
        (c.type, c.tif, bool(c.quote_amount)) if isinstance(c, PlaceOrder) else type(c).__name__
        for c in run.commands
    )
    assert {
        (OrderType.LIMIT, TimeInForce.GTC, False),
        (OrderType.LIMIT, TimeInForce.IOC, False),
        (OrderType.MARKET, TimeInForce.IOC, False),
        (OrderType.MARKET, TimeInForce.IOC, True),
        AmendOrder.__name__,
        CancelOrder.__name__,
    } <= set(kinds)


def test_price_amends_and_quantity_trims_both_happen(run: Run) -> None:
    amends = [c for c in run.commands if isinstance(c, AmendOrder)]
    assert any(a.price for a in amends)
    assert any(not a.price for a in amends)


def test_balances_conserve(run: Run) -> None:
    for asset in run.harness.data.assets:
        assert run.harness.total(asset.code) == 0


def test_traders_know_exactly_which_orders_they_have_open(run: Run) -> None:
    state = run.harness.engine.state
    for account in run.traders.accounts:
        believed = run.traders.open_orders(account)
        actual = state.accounts[account].orders
        assert believed.keys() == actual.keys()
        for order_id, order in believed.items():
            assert (order.price, order.quantity, order.remaining) == (
                actual[order_id].price,
                actual[order_id].quantity,
                actual[order_id].remaining,
            )


def test_makers_keep_both_sides_of_every_book_quoted(run: Run) -> None:
    for market in run.harness.engine.state.markets.values():
        assert market.book.bids.best() is not None
        assert market.book.asks.best() is not None


def test_same_seed_same_commands_and_state() -> None:
    first, second = drive(seed=11, steps=1_500), drive(seed=11, steps=1_500)
    assert first.commands == second.commands
    assert first.harness.engine.state_hash() == second.harness.engine.state_hash()


def test_other_seed_other_commands() -> None:
    assert drive(seed=11, steps=300).commands != drive(seed=12, steps=300).commands
