"""The book's queues and notional arithmetic: long queues, lazy removal, re-queued amends, exact sums."""

from __future__ import annotations

import pytest

from wcx.engine import AmendOrder, CancelOrder, MarketStatus, Side
from wcx.engine.events import OrderFilled
from wcx.engine.state import Balance, Market

from .conftest import Exchange, btc, of, usdt

TAKER = 999


def test_a_long_queue_fills_in_time_priority_past_cancelled_orders(h: Exchange) -> None:
    makers = [h.rest(10 + i, Side.SELL, "65000", "0.01") for i in range(60)]
    cancelled = set(makers[1::4])
    for i, order_id in enumerate(makers):
        if order_id in cancelled:
            h.apply(CancelOrder(10 + i, order_id=order_id))
    live = [order_id for order_id in makers if order_id not in cancelled]
    h.fund(TAKER, "USDT", usdt("100000"))

    fills = of(h.buy(TAKER, "65000", "0.3"), OrderFilled)
    assert [f.maker_order_id for f in fills] == live[:30]
    assert h.queue() == live[30:]

    # Losing priority puts an order at the back of its queue, and only there.
    moved = live[31]
    h.apply(AmendOrder(10 + makers.index(moved), order_id=moved, price=usdt("65000.01")))
    h.apply(AmendOrder(10 + makers.index(moved), order_id=moved, price=usdt("65000")))
    rest = [order_id for order_id in live[30:] if order_id != moved] + [moved]
    assert h.queue() == rest
    fills = of(h.buy(TAKER, "65000", "0.15"), OrderFilled)
    assert [f.maker_order_id for f in fills] == rest
    assert h.asks() == []


def test_an_order_amended_up_at_the_head_requeues_behind_the_others(h: Exchange) -> None:
    first, second = h.rest(10, Side.BUY, "65000", "0.01"), h.rest(11, Side.BUY, "65000", "0.01")
    h.fund(10, "USDT", usdt("1000"))
    h.apply(AmendOrder(10, order_id=first, quantity=btc("0.02")))
    assert h.queue() == [second, first]
    assert h.bids() == [(usdt("65000"), btc("0.03"))]


BIG = 2**64


@pytest.mark.parametrize(
    ("tick", "step", "base_scale"),
    [(10**4, 10**4, 8), (10**12, 10**14, 18), (1, 10**8, 8), (10**6, 10**15, 18)],
)
def test_notional_equals_price_times_quantity_over_the_base_unit(
    tick: int, step: int, base_scale: int
) -> None:
    market = Market(
        "X-Y", "X", "Y", base_scale, tick, step, step, BIG * step, 0, MarketStatus.TRADING, Balance()
    )
    for ticks in (1, 7, 6_500_000, BIG + 3):
        for lots in (1, 13, 10**7, BIG - 1):
            price, quantity = ticks * tick, lots * step
            assert market.notional(price, quantity) == price * quantity // 10**base_scale
