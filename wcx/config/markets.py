"""Load assets, markets and default fees from a TOML file (decimal strings, never floats)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wcx.primitives import AmountError, Asset, parse_amount, valid_symbol

DEFAULT_MARKETS_FILE = Path(__file__).resolve().parents[2] / "config" / "markets.toml"


class MarketConfigError(ValueError):
    """The markets file is malformed; the message names the entry."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A market's filters in minor units (prices: quote minor units per whole base unit)."""

    symbol: str
    base: str
    quote: str
    tick_size: int
    lot_step: int
    min_quantity: int
    max_quantity: int
    min_notional: int
    demo_price: int


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Everything a fresh exchange needs before it can trade."""

    assets: tuple[Asset, ...]
    markets: tuple[MarketSpec, ...]
    maker_bps: int
    taker_bps: int

    def market(self, symbol: str) -> MarketSpec:
        """The spec of one market."""
        for spec in self.markets:
            if spec.symbol == symbol:
                return spec
        raise KeyError(symbol)


def _amount(entry: dict[str, Any], key: str, scale: int, where: str) -> int:
    try:
        return parse_amount(str(entry[key]), scale, allow_zero=key in {"min_notional", "demo_price"})
    except KeyError:
        raise MarketConfigError(f"{where}: missing {key}") from None
    except AmountError as exc:
        raise MarketConfigError(f"{where}: {key}: {exc}") from None


def _check_filters(spec: MarketSpec, base_scale: int) -> None:
    """The engine's rules for a market, checked at load time so a bad file fails loudly."""
    if spec.min_quantity > spec.max_quantity:
        raise MarketConfigError(f"{spec.symbol}: min_quantity is above max_quantity")
    if spec.min_quantity % spec.lot_step or spec.max_quantity % spec.lot_step:
        raise MarketConfigError(f"{spec.symbol}: min/max quantity must be multiples of lot_step")
    if (spec.tick_size * spec.lot_step) % 10**base_scale:
        raise MarketConfigError(
            f"{spec.symbol}: tick_size x lot_step must be a whole number of quote minor units"
        )


def parse_reference_data(doc: dict[str, Any]) -> ReferenceData:
    """Validate a parsed TOML document into reference data."""
    try:
        assets = tuple(Asset(str(a["code"]), int(a["scale"])) for a in doc.get("assets", []))
    except (KeyError, ValueError, TypeError) as exc:
        raise MarketConfigError(f"assets: {exc}") from None
    scales = {a.code: a.scale for a in assets}
    markets = []
    for entry in doc.get("markets", []):
        symbol = str(entry.get("symbol", ""))
        base, quote = str(entry.get("base", "")), str(entry.get("quote", ""))
        if not valid_symbol(symbol) or base not in scales or quote not in scales:
            raise MarketConfigError(f"market {symbol!r}: bad symbol or unknown asset")
        qs, bs = scales[quote], scales[base]
        spec = MarketSpec(
            symbol=symbol,
            base=base,
            quote=quote,
            tick_size=_amount(entry, "tick_size", qs, symbol),
            lot_step=_amount(entry, "lot_step", bs, symbol),
            min_quantity=_amount(entry, "min_quantity", bs, symbol),
            max_quantity=_amount(entry, "max_quantity", bs, symbol),
            min_notional=_amount(entry, "min_notional", qs, symbol),
            demo_price=_amount(entry, "demo_price", qs, symbol) if "demo_price" in entry else 0,
        )
        _check_filters(spec, bs)
        markets.append(spec)
    fees = doc.get("fees", {})
    return ReferenceData(assets, tuple(markets), int(fees.get("maker_bps", 0)), int(fees.get("taker_bps", 0)))


def load_reference_data(path: Path = DEFAULT_MARKETS_FILE) -> ReferenceData:
    """Read and validate a markets TOML file."""
    with path.open("rb") as fh:
        return parse_reference_data(tomllib.load(fh))
