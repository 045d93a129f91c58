"""Run the same 1-market stream through wcx and pip-installed pure-Python order books; print wcx/peer.

Peers do matching only (no balances, holds, fees or self-trade prevention). Market orders are sent to
them as marketable limits at an extreme price, and their unfilled remainder is cancelled (IOC), since
neither peer has a market order that does not rest. Usage: python bench/engine_vs_peers.py [commands]
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import lightmatchingengine.lightmatchingengine as lme
import pyorderbook

from wcx.engine import CancelOrder, OrderType, PlaceOrder, Side
from wcx.simulator.engine_bench import Stream, engine_implementation, make_stream, prepared_engine, timed

EXTREME = 10**30


def run_wcx(stream: Stream) -> int:
    """The full engine: risk, matching, fees, events."""
    engine, seq = prepared_engine(stream)
    apply = engine.apply
    for command in stream.trading:
        seq += 1
        apply(seq, seq, command)
    return len(stream.trading)


def run_pyorderbook(stream: Stream) -> int:
    """pyorderbook.Book: match() for orders, cancel() for cancels and IOC remainders."""
    book = pyorderbook.Book()
    by_cid: dict[str, pyorderbook.Order] = {}
    for command in stream.trading:
        if isinstance(command, PlaceOrder):
            side = pyorderbook.Side.BID if command.side is Side.BUY else pyorderbook.Side.ASK
            market = command.type is OrderType.MARKET
            price = (EXTREME if command.side is Side.BUY else 1) if market else command.price
            order = pyorderbook.Order(side, command.symbol, price, command.quantity)
            book.match(order)
            if market and order.quantity:
                book.cancel(order)
            elif command.client_order_id:
                by_cid[command.client_order_id] = order
        elif isinstance(command, CancelOrder):
            target = by_cid.pop(command.client_order_id, None)
            if target is not None and book.get_order(target.id) is not None:
                book.cancel(target)
    return len(stream.trading)


def run_lightmatchingengine(stream: Stream) -> int:
    """lightmatchingengine: add_order() and cancel_order()."""
    engine = lme.LightMatchingEngine()
    by_cid: dict[str, lme.Order] = {}
    symbol = stream.trading[0].symbol  # type: ignore[union-attr]
    for command in stream.trading:
        if isinstance(command, PlaceOrder):
            side = lme.Side.BUY if command.side is Side.BUY else lme.Side.SELL
            market = command.type is OrderType.MARKET
            order, _trades = engine.add_order(
                command.symbol, 0 if market else command.price, command.quantity, side
            )
            if market and order.leaves_qty:
                engine.cancel_order(order.order_id, command.symbol)
            elif command.client_order_id:
                by_cid[command.client_order_id] = order
        elif isinstance(command, CancelOrder):
            # Its id map keeps filled orders, and cancelling one trips an assertion: skip those.
            target = by_cid.pop(command.client_order_id, None)
            if target is not None and target.leaves_qty:
                engine.cancel_order(target.order_id, symbol)
    return len(stream.trading)


def main() -> None:
    """Time each implementation on the same stream and print the ratios."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    stream = make_stream(1, count)
    runners: dict[str, Callable[[Stream], int]] = {
        f"wcx ({engine_implementation()})": run_wcx,
        f"pyorderbook {pyorderbook.__version__}": run_pyorderbook,
        "lightmatchingengine 2019.1.4": run_lightmatchingengine,
    }
    rates = {name: timed(lambda run=run: run(stream)) for name, run in runners.items()}  # type: ignore[misc]
    ours = next(iter(rates.values()))
    print(f"stream: {stream.name}, {count:,} commands, 1,000 accounts (seeded)")
    for name, rate in rates.items():
        print(f"  {name:32s} {rate:>12,.0f} commands/s   wcx/peer = {ours / rate:5.2f}x")
    print(f"  fastest peer ratio: {ours / max(list(rates.values())[1:]):.2f}x")


if __name__ == "__main__":
    main()
