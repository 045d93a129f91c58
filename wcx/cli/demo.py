"""`wcx demo`: demo markets with simulated traders, trades and top of book shown live."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from wcx.bootstrap import setup_commands
from wcx.config.markets import DEFAULT_MARKETS_FILE, ReferenceData, load_reference_data
from wcx.engine import Command, Engine, Event
from wcx.engine.events import OrderFilled
from wcx.simulator.traders import DemoTraders
from wcx.simulator.view import Board, LiveView, PlainView, summary_lines

FRAME_SECONDS = 0.05


class _DirectEngine:
    """Applies commands to an in-process engine with increasing seq and wall-clock ts.

    The demo drives the engine directly, without the durable journal and sequencer: nothing it does
    needs to survive a restart.
    """

    def __init__(self, data: ReferenceData) -> None:
        self.engine = Engine()
        self.seq = 0
        for command in setup_commands(data):
            self.apply(command)

    def apply(self, command: Command) -> list[Event]:
        """Sequence and apply one command."""
        self.seq += 1
        return self.engine.apply(self.seq, time.time_ns(), command)

    def top(self, symbol: str) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """(best bid, best ask) of a market as (price, quantity), None for an empty side."""
        book = self.engine.state.markets[symbol].book
        bids, asks = book.bids.depth(1), book.asks.depth(1)
        return (bids[0] if bids else None), (asks[0] if asks else None)


def _run(
    data: ReferenceData,
    view: LiveView | PlainView,
    board: Board,
    seconds: float,
    rate: int,
    seed: int,
    stop: threading.Event,
) -> None:
    engine = _DirectEngine(data)
    traders = DemoTraders(data, seed=seed)
    for command in traders.funding():
        engine.apply(command)
    start = time.monotonic()
    sent = 0
    with view:
        while not stop.is_set():
            now = time.monotonic()
            elapsed = now - start
            if seconds and elapsed >= seconds:
                return
            due = int(rate * elapsed) - sent
            # Never spend more than a frame catching up, so the display keeps refreshing at any rate.
            frame_end = now + FRAME_SECONDS
            trades: list[OrderFilled] = []
            while due > 0 and time.monotonic() < frame_end:
                events = engine.apply(traders.next_command())
                traders.observe(events)
                trades += board.record(events)
                sent += 1
                due -= 1
            for symbol in board.markets:
                board.set_top(symbol, *engine.top(symbol))
            view.show(board, trades, board.tick(time.monotonic()))
            if due <= 0:
                stop.wait(FRAME_SECONDS)


def demo(
    seconds: Annotated[float, typer.Option(help="Stop after this many seconds (0: run until Ctrl-C).")] = 0.0,
    rate: Annotated[int, typer.Option(min=1, help="Commands per second the simulated traders send.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the simulated traders (same seed, same orders).")] = 1,
    markets: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Markets file (assets, markets, fees).")
    ] = DEFAULT_MARKETS_FILE,
) -> None:
    """Run the demo markets with simulated traders."""
    data = load_reference_data(markets)
    board = Board(data)
    view = LiveView(Console()) if sys.stdout.isatty() else PlainView(sys.stdout)
    start = time.monotonic()
    # Ctrl-C ends the run at the next frame: a KeyboardInterrupt raised wherever the loop happens to be
    # can land in a finalizer, where Python prints and drops it, and the demo would run on.
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        _run(data, view, board, seconds, rate, seed, stop)
    except BrokenPipeError:
        # The reader went away (`wcx demo | head`): stop quietly, and keep Python's exit-time flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    finally:
        signal.signal(signal.SIGINT, previous)
    for line in summary_lines(board, time.monotonic() - start):
        print(line)
