"""Reference data from TOML: the shipped file loads, and malformed entries are named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from wcx.bootstrap import setup_commands
from wcx.config.markets import MarketConfigError, MarketSpec, load_reference_data
from wcx.engine import Engine
from wcx.engine.events import AssetAdded, FeeScheduleChanged, MarketAdded
from wcx.primitives import Asset

ASSETS = """
[[assets]]
code = "BTC"
scale = 8

[[assets]]
code = "USDT"
scale = 6
"""

MARKET = {
    "symbol": '"BTC-USDT"',
    "base": '"BTC"',
    "quote": '"USDT"',
    "tick_size": '"0.01"',
    "lot_step": '"0.0001"',
    "min_quantity": '"0.0001"',
    "max_quantity": '"1000"',
    "min_notional": '"5"',
}


def write(tmp_path: Path, text: str) -> Path:
    """A markets file with this content."""
    path = tmp_path / "markets.toml"
    path.write_text(text)
    return path


def market_file(tmp_path: Path, **changes: str | None) -> Path:
    """A valid one-market file with some fields of the market replaced (TOML literals) or dropped (None)."""
    fields = {**MARKET, **changes}
    lines = [f"{key} = {value}" for key, value in fields.items() if value is not None]
    return write(tmp_path, ASSETS + "\n[[markets]]\n" + "\n".join(lines) + "\n")


def test_shipped_file_loads_with_exact_minor_units() -> None:
    data = load_reference_data()
    assert data.assets == (Asset("BTC", 8), Asset("ETH", 18), Asset("USDT", 6))
    assert (data.maker_bps, data.taker_bps) == (10, 20)
    assert [m.symbol for m in data.markets] == ["BTC-USDT", "ETH-USDT", "ETH-BTC"]
    assert data.market("BTC-USDT") == MarketSpec(
        "BTC-USDT", "BTC", "USDT", 10_000, 10_000, 10_000, 1000 * 10**8, 5_000_000, 65_000 * 10**6
    )
    assert data.market("ETH-USDT") == MarketSpec(
        "ETH-USDT", "ETH", "USDT", 10_000, 10**14, 10**14, 10_000 * 10**18, 5_000_000, 3200 * 10**6
    )
    assert data.market("ETH-BTC") == MarketSpec(
        "ETH-BTC", "ETH", "BTC", 1000, 10**15, 10**15, 10_000 * 10**18, 10_000, 4_923_000
    )
    with pytest.raises(KeyError):
        data.market("DOGE-USDT")


def test_shipped_file_is_accepted_by_the_engine() -> None:
    engine = Engine()
    events = [
        e for seq, c in enumerate(setup_commands(load_reference_data()), 1) for e in engine.apply(seq, 0, c)
    ]
    assert [type(e) for e in events] == [AssetAdded] * 3 + [MarketAdded] * 3 + [FeeScheduleChanged]
    assert sorted(engine.state.markets) == ["BTC-USDT", "ETH-BTC", "ETH-USDT"]


def test_minimal_file_defaults(tmp_path: Path) -> None:
    data = load_reference_data(market_file(tmp_path, min_notional='"0"'))
    assert (data.maker_bps, data.taker_bps) == (0, 0)
    assert data.market("BTC-USDT").min_notional == 0
    assert data.market("BTC-USDT").demo_price == 0


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"tick_size": None}, "missing tick_size"),
        ({"max_quantity": None}, "missing max_quantity"),
        ({"tick_size": '"0.0000001"'}, "tick_size"),  # finer than USDT's 6 decimals
        ({"lot_step": '"0.000000001"'}, "lot_step"),
        ({"lot_step": '"-0.0001"'}, "lot_step"),
        ({"min_quantity": '"0"'}, "min_quantity"),
        ({"max_quantity": '"lots"'}, "max_quantity"),
        ({"min_notional": '"-5"'}, "min_notional"),
        ({"demo_price": '"cheap"'}, "demo_price"),
    ],
)
def test_malformed_amounts_name_the_market_and_the_field(
    tmp_path: Path, changes: dict[str, str | None], mentions: str
) -> None:
    with pytest.raises(MarketConfigError, match="BTC-USDT") as caught:
        load_reference_data(market_file(tmp_path, **changes))
    assert mentions in str(caught.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"base": '"DOGE"', "symbol": '"DOGE-USDT"'},
        {"quote": '"EUR"', "symbol": '"BTC-EUR"'},
        {"symbol": '"btc-usdt"'},
        {"symbol": '"BTCUSDT"'},
    ],
)
def test_bad_symbol_or_unknown_asset_names_the_market(tmp_path: Path, changes: dict[str, str]) -> None:
    symbol = changes.get("symbol", MARKET["symbol"]).strip('"')
    with pytest.raises(MarketConfigError, match=symbol):
        load_reference_data(market_file(tmp_path, **changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"tick_size": '"0.000001"', "lot_step": '"0.00000001"'},  # tick × step is 10^-8 of a USDT unit
        {"min_quantity": '"2"', "max_quantity": '"1"'},
    ],
)
def test_filters_the_engine_would_refuse_are_a_config_error(tmp_path: Path, changes: dict[str, str]) -> None:
    # Otherwise the bootstrap's AddMarket is rejected and the exchange silently starts without the market.
    with pytest.raises(MarketConfigError, match="BTC-USDT"):
        load_reference_data(market_file(tmp_path, **changes))


@pytest.mark.parametrize(
    "assets",
    [
        '[[assets]]\ncode = "btc"\nscale = 8\n',
        '[[assets]]\ncode = "BTC"\nscale = 31\n',
        '[[assets]]\ncode = "BTC"\n',
        '[[assets]]\ncode = "BTC"\nscale = "eight"\n',
    ],
)
def test_malformed_assets_raise_a_config_error(tmp_path: Path, assets: str) -> None:
    with pytest.raises(MarketConfigError, match="assets"):
        load_reference_data(write(tmp_path, assets))
