"""Binance request parameters: query string and form body merged (the query wins), parsed strictly.

Every problem is a BinanceError with the code the Binance Spot API documents (-1102 missing, -1100
illegal characters, -1111 too much precision, -1121 invalid symbol, ...), never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from wcx.api.binance.errors import INVALID_SYMBOL, BinanceError, invalid, mandatory
from wcx.engine.state import Market
from wcx.runtime import Runtime

_DECIMAL = re.compile(r"[0-9]{1,40}(\.[0-9]{1,40})?")
_INT = re.compile(r"-?[0-9]{1,19}")
_SYMBOL = re.compile(r"[A-Z0-9]{2,32}")
MAX_INT = 2**63 - 1
MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant a datetime holds (later times are invalid, not a 500)."""


def binance_symbol(market: Market) -> str:
    """Our `BTC-USDT` as Binance names it: `BTCUSDT`."""
    return market.base + market.quote


def symbol_index(runtime: Runtime) -> dict[str, Market]:
    """Binance symbol -> market, for every market the engine knows."""
    return {binance_symbol(m): m for m in runtime.engine.state.markets.values()}


def market_by_symbol(runtime: Runtime, symbol: str) -> Market:
    """The market a Binance symbol names (case-insensitive, like Binance), or -1121."""
    market = symbol_index(runtime).get(symbol.upper())
    if market is None:
        raise INVALID_SYMBOL
    return market


class Params:
    """Parameters of one request, with typed accessors that raise Binance errors."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    @classmethod
    def parse(cls, query: bytes, body: bytes = b"") -> Params:
        """From a raw query string and a form body (query first: it wins on duplicates)."""
        try:
            pairs = parse_qsl(query.decode(), keep_blank_values=True) + parse_qsl(
                body.decode(), keep_blank_values=True
            )
        except UnicodeDecodeError:
            raise BinanceError(-1100, "Illegal characters found in a parameter.") from None
        values: dict[str, str] = {}
        for name, value in pairs:
            values.setdefault(name, value)
        return cls(values)

    @classmethod
    def of(cls, mapping: Mapping[str, object]) -> Params:
        """From a WebSocket API `params` object (values as JSON gives them: str, int, float, bool)."""
        values: dict[str, str] = {}
        for name, value in mapping.items():
            if isinstance(value, str):
                values[name] = value
            elif isinstance(value, bool):
                values[name] = "true" if value else "false"
            elif isinstance(value, int | float):
                values[name] = str(value)
            else:
                raise invalid(name)
        return cls(values)

    def text(self, name: str, *, required: bool = False, max_length: int = 64) -> str | None:
        """A string parameter (empty counts as absent)."""
        value = self.values.get(name, "")
        if not value:
            if required:
                raise mandatory(name)
            return None
        if len(value) > max_length or not value.isprintable():
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '{max_length}' characters.",
            )
        return value

    def required(self, name: str, max_length: int = 64) -> str:
        """A mandatory string parameter."""
        value = self.text(name, required=True, max_length=max_length)
        assert value is not None
        return value

    def integer(self, name: str, *, low: int = 0, high: int = MAX_INT) -> int | None:
        """An integer parameter within [low, high]."""
        value = self.values.get(name, "")
        if not value:
            return None
        if not _INT.fullmatch(value):
            raise BinanceError(
                -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
            )
        number = int(value)
        if not low <= number <= high:
            raise invalid(name)
        return number

    def time_range(self) -> tuple[int | None, int | None]:
        """`startTime` and `endTime` in ms (inclusive); -1128 when start is after end."""
        start, end = self.integer("startTime", high=MAX_MS), self.integer("endTime", high=MAX_MS)
        if start is not None and end is not None and start > end:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        return start, end

    def limit(self, default: int, maximum: int) -> int:
        """`limit`: default when absent, capped at maximum like Binance (values below 1 are invalid)."""
        value = self.integer("limit", low=1)
        return default if value is None else min(value, maximum)

    def boolean(self, name: str) -> bool | None:
        """A `true` / `false` parameter."""
        value = self.values.get(name, "")
        if not value:
            return None
        if value.lower() not in ("true", "false"):
            raise invalid(name)
        return value.lower() == "true"

    def choice(self, name: str, choices: Iterable[str], code: int, msg: str) -> str | None:
        """An enum parameter; an unknown value answers `code` / `msg`."""
        value = self.text(name)
        if value is None:
            return None
        if value not in choices:
            raise BinanceError(code, msg)
        return value

    def amount(self, name: str, scale: int) -> int | None:
        """A decimal string in minor units at `scale`; more decimals than the asset has is -1111."""
        value = self.values.get(name, "")
        if not value:
            return None
        if not _DECIMAL.fullmatch(value):
            raise BinanceError(
                -1100,
                f"Illegal characters found in parameter '{name}'; "
                "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise invalid(name) from None
        units = number.scaleb(scale)
        if units != units.to_integral_value():
            raise BinanceError(-1111, f"Parameter '{name}' has too much precision.")
        return int(units)

    def market(self, runtime: Runtime) -> Market:
        """The mandatory `symbol` parameter as a market."""
        return market_by_symbol(runtime, self.required("symbol", 32))

    def symbols(self, runtime: Runtime) -> list[Market] | None:
        """`symbol` or `symbols` (a JSON array): the markets named, or None for all."""
        if self.text("symbol") is not None:
            return [self.market(runtime)]
        raw = self.text("symbols", max_length=4096)
        if raw is None:
            return None
        try:
            names = json.loads(raw)
        except ValueError:
            raise invalid("symbols") from None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise invalid("symbols")
        for name in names:
            if not _SYMBOL.fullmatch(name.upper()):
                raise INVALID_SYMBOL
        return [market_by_symbol(runtime, name) for name in dict.fromkeys(names)]
