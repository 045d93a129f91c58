"""What the demo shows: top of book and stats per market, recent trades, rates; rich layout or plain lines."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from wcx.config.markets import MarketSpec, ReferenceData
from wcx.engine import Event, Side
from wcx.engine.events import CommandRejected, OrderFilled, OrderRejected
from wcx.primitives import format_amount

RECENT_TRADES = 40

Quote = tuple[int, int]
"""(price, open quantity) of a best level."""


def display_decimals(step: int, scale: int) -> int:
    """Decimals that show every multiple of `step` minor units (of an asset with `scale`) exactly."""
    decimals = scale
    while decimals and step % 10 == 0:
        step //= 10
        decimals -= 1
    return decimals


def _trimmed(units: int, scale: int, decimals: int) -> str:
    text = format_amount(units, scale)
    cut = scale - decimals + (1 if scale and not decimals else 0)
    return text[: len(text) - cut] if cut else text


@dataclass(slots=True)
class MarketBoard:
    """One market's top of book and running trade stats; formats its own amounts."""

    spec: MarketSpec
    quote_scale: int
    base_scale: int
    price_decimals: int = field(init=False)
    quantity_decimals: int = field(init=False)
    bid: Quote | None = None
    ask: Quote | None = None
    last: int | None = None
    volume: int = 0
    trades: int = 0

    def __post_init__(self) -> None:
        self.price_decimals = display_decimals(self.spec.tick_size, self.quote_scale)
        self.quantity_decimals = display_decimals(self.spec.lot_step, self.base_scale)

    def price(self, units: int | None) -> str:
        """A price at tick precision ("-" when there is none)."""
        return "-" if units is None else _trimmed(units, self.quote_scale, self.price_decimals)

    def quantity(self, units: int | None) -> str:
        """A base quantity at lot-step precision ("-" when there is none)."""
        return "-" if units is None else _trimmed(units, self.base_scale, self.quantity_decimals)

    def quote(self, best: Quote | None) -> str:
        """A best level as "quantity @ price"."""
        return "-" if best is None else f"{self.quantity(best[1])} @ {self.price(best[0])}"

    def spread(self) -> str:
        """Best ask minus best bid."""
        if self.bid is None or self.ask is None:
            return "-"
        return self.price(self.ask[0] - self.bid[0])


@dataclass(slots=True)
class Board:
    """Everything the demo displays, fed with the events of each applied command."""

    data: ReferenceData
    markets: dict[str, MarketBoard] = field(init=False)
    recent: deque[OrderFilled] = field(init=False)
    rejections: Counter[str] = field(init=False, default_factory=Counter)
    commands: int = 0
    trades: int = 0
    commands_per_s: float = 0.0
    trades_per_s: float = 0.0
    _last_tick: tuple[float, int, int] | None = None

    def __post_init__(self) -> None:
        scales = {a.code: a.scale for a in self.data.assets}
        self.markets = {m.symbol: MarketBoard(m, scales[m.quote], scales[m.base]) for m in self.data.markets}
        self.recent = deque(maxlen=RECENT_TRADES)

    def record(self, events: Iterable[Event]) -> list[OrderFilled]:
        """Count one applied command and its events; return the trades among them."""
        self.commands += 1
        trades: list[OrderFilled] = []
        for event in events:
            if isinstance(event, OrderFilled):
                market = self.markets[event.symbol]
                market.last = event.price
                market.volume += event.quantity
                market.trades += 1
                trades.append(event)
            elif isinstance(event, OrderRejected | CommandRejected):
                self.rejections[event.code] += 1
        self.trades += len(trades)
        self.recent.extend(trades)
        return trades

    def set_top(self, symbol: str, bid: Quote | None, ask: Quote | None) -> None:
        """Record a market's best bid and ask."""
        market = self.markets[symbol]
        market.bid, market.ask = bid, ask

    def tick(self, now: float) -> bool:
        """Update the per-second rates when a second has passed since the last update; say whether it did."""
        if self._last_tick is None:
            self._last_tick = (now, self.commands, self.trades)
            return False
        then, commands, trades = self._last_tick
        if now - then < 1.0:
            return False
        self.commands_per_s = (self.commands - commands) / (now - then)
        self.trades_per_s = (self.trades - trades) / (now - then)
        self._last_tick = (now, self.commands, self.trades)
        return True


def _clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts // 1_000_000_000)) + f".{ts // 1_000_000 % 1000:03d}"


def _side(trade: OrderFilled) -> Text:
    return Text(trade.taker_side, style="green" if trade.taker_side is Side.BUY else "red")


def _markets_table(board: Board) -> Table:
    table = Table(expand=True, box=None, header_style="bold")
    for name in ("Market", "Bid size", "Bid", "Ask", "Ask size", "Spread", "Last", "Volume", "Trades"):
        table.add_column(name, justify="left" if name == "Market" else "right", no_wrap=True)
    for m in board.markets.values():
        bid_price, bid_size = m.bid if m.bid else (None, None)
        ask_price, ask_size = m.ask if m.ask else (None, None)
        table.add_row(
            Text(m.spec.symbol, style="bold"),
            m.quantity(bid_size),
            Text(m.price(bid_price), style="green"),
            Text(m.price(ask_price), style="red"),
            m.quantity(ask_size),
            m.spread(),
            m.price(m.last),
            f"{m.quantity(m.volume)} {m.spec.base}",
            f"{m.trades:,}",
        )
    return table


def _trades_table(board: Board) -> Table:
    table = Table(box=None, header_style="bold", padding=(0, 2))
    for name in ("Time", "Market", "Side", "Price", "Quantity"):
        table.add_column(name, justify="right" if name in {"Price", "Quantity"} else "left", no_wrap=True)
    for trade in reversed(board.recent):
        market = board.markets[trade.symbol]
        table.add_row(
            _clock(trade.ts),
            trade.symbol,
            _side(trade),
            market.price(trade.price),
            market.quantity(trade.quantity),
        )
    return table


def _rejections(board: Board) -> str:
    return ", ".join(f"{code} {n}" for code, n in board.rejections.most_common()) or "none"


def _status(board: Board) -> Text:
    return Text.assemble(
        (f"{board.commands_per_s:,.0f}", "bold"),
        " commands/s   ",
        (f"{board.trades_per_s:,.0f}", "bold"),
        f" trades/s   {board.commands:,} commands   {board.trades:,} trades   "
        f"rejections: {_rejections(board)}   Ctrl-C to stop",
    )


def render(board: Board) -> Layout:
    """The full-screen layout: markets on top, recent trades below (newest first), rates at the bottom."""
    layout = Layout()
    layout.split_column(
        Layout(Panel(_markets_table(board), title="wcx demo: top of book"), size=len(board.markets) + 3),
        Layout(Panel(_trades_table(board), title="Recent trades")),
        Layout(_status(board), size=1),
    )
    return layout


def trade_line(board: Board, trade: OrderFilled) -> str:
    """One trade as a plain line."""
    market = board.markets[trade.symbol]
    return (
        f"trade {_clock(trade.ts)} {trade.symbol:<9} {trade.taker_side:<4} "
        f"{market.price(trade.price):>14} {market.quantity(trade.quantity):>12}"
    )


def book_lines(board: Board) -> list[str]:
    """The top of book of every market and the rates, as plain lines."""
    lines = [
        f"book  {m.spec.symbol:<9} bid {m.quote(m.bid)}  ask {m.quote(m.ask)}  spread {m.spread()}"
        f"  last {m.price(m.last)}  volume {m.quantity(m.volume)} {m.spec.base}  trades {m.trades}"
        for m in board.markets.values()
    ]
    lines.append(f"rate  {board.commands_per_s:.0f} commands/s  {board.trades_per_s:.0f} trades/s")
    return lines


def summary_lines(board: Board, elapsed: float) -> list[str]:
    """What happened over the whole run."""
    per_market = ", ".join(f"{m.spec.symbol} {m.trades}" for m in board.markets.values())
    return [
        f"demo stopped after {elapsed:.1f} s: {board.commands:,} commands, "
        f"{board.trades:,} trades ({per_market})",
        f"rejections: {_rejections(board)}",
    ]


class LiveView:
    """Redraws the layout in place; for terminals."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, auto_refresh=False, screen=True)

    def __enter__(self) -> LiveView:
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def show(self, board: Board, trades: list[OrderFilled], new_second: bool) -> None:
        """Redraw the whole layout."""
        self._live.update(render(board), refresh=True)


class PlainView:
    """One line per trade and the top of book every second; for pipes and CI logs."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.flush()

    def show(self, board: Board, trades: list[OrderFilled], new_second: bool) -> None:
        """Print the new trades, and the book once a second."""
        lines = [trade_line(board, trade) for trade in trades]
        if new_second:
            lines += book_lines(board)
        if lines:
            self._out.write("\n".join(lines) + "\n")
            self._out.flush()
