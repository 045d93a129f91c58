"""Shared fixtures for engine tests: a harness with order shorthand and an invariant check on teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import pytest

from wcx.engine import Command, Engine, Event, PlaceOrder, Reject, Side
from wcx.engine.events import CommandRejected, OrderAccepted, OrderRejected
from wcx.engine.state import SYSTEM_ACCOUNTS
from wcx.primitives import parse_amount
from wcx.testing.harness import EngineHarness

A, B, C, D = 1, 2, 3, 4
BTC_USDT = "BTC-USDT"
SCALES = {"BTC": 8, "ETH": 18, "USDT": 6}

E = TypeVar("E", bound=Event)


def units(text: str, asset: str) -> int:
    """Minor units of a whole-unit decimal string of a demo asset ("-" prefix for negatives)."""
    if text.startswith("-"):
        return -units(text[1:], asset)
    return parse_amount(text, SCALES[asset], allow_zero=True)


def usdt(text: str) -> int:
    """USDT minor units (scale 6); also BTC-USDT prices, which are USDT per whole BTC."""
    return units(text, "USDT")


def btc(text: str) -> int:
    """BTC minor units (scale 8)."""
    return units(text, "BTC")


def of(events: list[Event], kind: type[E]) -> list[E]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, kind)]


def only(events: list[Event], kind: type[E]) -> E:
    """The single event of one type (fails when there are none or several)."""
    found = of(events, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {events}"
    return found[0]


def kinds(events: list[Event]) -> list[str]:
    """Event class names, to assert the shape of an outcome at a glance."""
    return [type(e).__name__ for e in events]


class Exchange(EngineHarness):
    """The demo exchange (BTC-USDT, ETH-USDT, ETH-BTC; maker 10 bps, taker 20 bps) with order shorthand."""

    def order(self, account: int, side: Side, price: str, quantity: str, **fields: Any) -> list[Event]:
        """Place a BTC-USDT order; price in USDT and quantity in BTC as whole-unit strings."""
        command = PlaceOrder(account, BTC_USDT, side, price=usdt(price), quantity=btc(quantity), **fields)
        return self.apply(command)

    def buy(self, account: int, price: str, quantity: str, **fields: Any) -> list[Event]:
        """Place a BTC-USDT limit buy."""
        return self.order(account, Side.BUY, price, quantity, **fields)

    def sell(self, account: int, price: str, quantity: str, **fields: Any) -> list[Event]:
        """Place a BTC-USDT limit sell."""
        return self.order(account, Side.SELL, price, quantity, **fields)

    def rest(self, account: int, side: Side, price: str, quantity: str, **fields: Any) -> int:
        """Fund exactly the order's hold, place a resting limit order, and return its order id."""
        if side is Side.BUY:
            notional = usdt(price) * btc(quantity) // 10**8
            reserve_bps = max(self.engine.state.fees_for(account))
            self.fund(account, "USDT", notional - (-notional * reserve_bps // 10_000))
        else:
            self.fund(account, "BTC", btc(quantity))
        events = self.order(account, side, price, quantity, **fields)
        assert kinds(events) == ["OrderAccepted"], events
        return only(events, OrderAccepted).order_id

    def bids(self, symbol: str = BTC_USDT) -> list[tuple[int, int]]:
        """(price, open quantity) of every bid level, best first."""
        return self.engine.state.markets[symbol].book.bids.depth(1_000)

    def asks(self, symbol: str = BTC_USDT) -> list[tuple[int, int]]:
        """(price, open quantity) of every ask level, best first."""
        return self.engine.state.markets[symbol].book.asks.depth(1_000)

    def queue(self, symbol: str = BTC_USDT) -> list[int]:
        """Ids of every resting order in book order: bids then asks, best price and oldest first."""
        return [order.id for order in self.engine.state.markets[symbol].book.orders()]

    def open_orders(self, account: int) -> list[int]:
        """Ids of an account's open orders."""
        found = self.engine.state.accounts.get(account)
        return sorted(found.orders) if found else []

    def check_invariants(self) -> None:
        """Conservation, non-negative balances, holds that match open orders, and a consistent book."""
        st = self.engine.state
        for asset in st.assets:
            assert self.total(asset) == 0, f"{asset} not conserved"
        expected_held: dict[tuple[int, str], int] = {}
        for w in st.withdrawals.values():
            expected_held[w.account, w.asset] = expected_held.get((w.account, w.asset), 0) + w.amount + w.fee
        for symbol, market in st.markets.items():
            resting = list(market.book.orders())
            assert len({o.id for o in resting}) == len(resting), f"{symbol}: an order is in the book twice"
            assert sorted(o.id for o in resting) == sorted(
                o.id for o in st.orders.values() if o.symbol == symbol
            )
            for order in resting:
                asset = market.quote if order.is_buy else market.base
                key = (order.account, asset)
                expected_held[key] = expected_held.get(key, 0) + order.hold
                assert order.hold == order.required_hold(market.base_unit), f"order {order.id} hold"
            for side in (market.book.bids, market.book.asks):
                for level in side.iter_levels():
                    live = list(level.live_orders())
                    assert live and level.total == sum(o.remaining for o in live), f"{symbol} {level.price}"
                    assert all(o.price == level.price for o in live), f"{symbol}: order at a foreign level"
                assert side.total == sum(level.total for level in side.iter_levels()), f"{symbol} side total"
            best_bid, best_ask = market.book.bids.best(), market.book.asks.best()
            assert best_bid is None or best_ask is None or best_bid.price < best_ask.price, (
                f"{symbol} crossed"
            )
        for account_id, account in st.accounts.items():
            for asset in st.assets:
                held = account.held.get(asset, 0)
                assert held == expected_held.get((account_id, asset), 0), f"held {account_id} {asset}"
                if account_id not in SYSTEM_ACCOUNTS:
                    assert account.available.get(asset, 0) >= 0, f"available {account_id} {asset}"

    def apply_unchanged(self, command: Command) -> list[Event]:
        """Apply a command that must change nothing but the sequence counter; return its events."""
        before = Engine.restore(self.engine.snapshot())
        events = self.apply(command)
        # The hash covers last_seq, which every command advances; align it and compare the rest.
        before.state.last_seq = self.engine.state.last_seq
        assert before.state_hash() == self.engine.state_hash(), f"{command} changed state: {events}"
        return events

    def reject(self, command: Command) -> Reject:
        """Apply a command that must be rejected without any effect; return the rejection code."""
        events = self.apply_unchanged(command)
        assert len(events) == 1 and isinstance(events[0], OrderRejected | CommandRejected), events
        return events[0].code


@pytest.fixture
def h() -> Iterator[Exchange]:
    """A fresh demo exchange; every test's final state must satisfy the engine's invariants."""
    exchange = Exchange()
    yield exchange
    exchange.check_invariants()
