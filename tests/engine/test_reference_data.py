"""Admin reference data: assets, markets and fee schedules, with their validation."""

from __future__ import annotations

import msgspec
import pytest

from wcx.engine import AddAsset, AddMarket, Command, MarketStatus, Reject, SetFeeSchedule
from wcx.engine.admin import MAX_FEE_BPS
from wcx.engine.events import AssetAdded, CommandRejected, FeeScheduleChanged, MarketAdded

from .conftest import A, Exchange

# SOL has 9 decimals; a tick of 0.001 USDT (1000) times a step of 0.01 SOL (10^7) is 10^10, a whole
# number of USDT minor units per 10^9 SOL minor units.
SOL_USDT = AddMarket("SOL-USDT", "SOL", "USDT", 1000, 10**7, 10**8, 10**11, 1_000_000)


@pytest.fixture
def with_sol(h: Exchange) -> Exchange:
    """The demo exchange plus the SOL asset (no SOL market yet)."""
    h.apply(AddAsset("SOL", 9))
    return h


def test_add_asset(h: Exchange) -> None:
    assert h.apply(AddAsset("SOL", 9)) == [AssetAdded(h.seq, h.seq * 1000, "SOL", 9)]
    assert h.engine.state.assets["SOL"] == 9


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (AddAsset("BTC", 8), Reject.ASSET_EXISTS),
        (AddAsset("BTC", 6), Reject.ASSET_EXISTS),
        (AddAsset("sol", 9), Reject.INVALID_MARKET_SPEC),
        (AddAsset("S", 9), Reject.INVALID_MARKET_SPEC),
        (AddAsset("SOL-X", 9), Reject.INVALID_MARKET_SPEC),
        (AddAsset("ABCDEFGHIJKLM", 9), Reject.INVALID_MARKET_SPEC),
        (AddAsset("SOL", -1), Reject.INVALID_MARKET_SPEC),
        (AddAsset("SOL", 31), Reject.INVALID_MARKET_SPEC),
    ],
)
def test_invalid_assets_are_rejected_without_any_effect(h: Exchange, command: AddAsset, code: Reject) -> None:
    events = h.apply_unchanged(command)
    assert events == [CommandRejected(h.seq, h.seq * 1000, code, "asset")]


@pytest.mark.parametrize("scale", [0, 30])
def test_asset_scale_bounds_are_inclusive(h: Exchange, scale: int) -> None:
    assert h.apply(AddAsset("EDGE", scale)) == [AssetAdded(h.seq, h.seq * 1000, "EDGE", scale)]


def test_add_market(with_sol: Exchange) -> None:
    h = with_sol
    assert h.apply(SOL_USDT) == [
        MarketAdded(
            h.seq,
            h.seq * 1000,
            "SOL-USDT",
            "SOL",
            "USDT",
            1000,
            10**7,
            10**8,
            10**11,
            1_000_000,
            MarketStatus.TRADING,
        )
    ]
    market = h.engine.state.markets["SOL-USDT"]
    assert (market.base, market.quote, market.base_unit, market.status) == (
        "SOL",
        "USDT",
        10**9,
        MarketStatus.TRADING,
    )
    assert h.bids("SOL-USDT") == h.asks("SOL-USDT") == []


def spec(**changes: int | str) -> AddMarket:
    """SOL_USDT with some fields changed."""
    return msgspec.structs.replace(SOL_USDT, **changes)


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (spec(tick_size=10), Reject.INVALID_MARKET_SPEC),  # 10 × 10^7 is a tenth of a USDT minor unit
        (spec(lot_step=10**5), Reject.INVALID_MARKET_SPEC),  # 1000 × 10^5 likewise
        (spec(base="DOGE", symbol="DOGE-USDT"), Reject.UNKNOWN_ASSET),
        (spec(quote="EUR", symbol="SOL-EUR"), Reject.UNKNOWN_ASSET),
        (spec(symbol="BTC-USDT", base="BTC"), Reject.MARKET_EXISTS),
        (spec(symbol="sol-usdt"), Reject.INVALID_MARKET_SPEC),
        (spec(symbol="SOLUSDT"), Reject.INVALID_MARKET_SPEC),
        (spec(symbol="SOL-SOL", quote="SOL"), Reject.INVALID_MARKET_SPEC),
        (spec(tick_size=0), Reject.INVALID_MARKET_SPEC),
        (spec(lot_step=0), Reject.INVALID_MARKET_SPEC),
        (spec(min_quantity=0), Reject.INVALID_MARKET_SPEC),
        (spec(tick_size=-1000), Reject.INVALID_MARKET_SPEC),
        (spec(min_notional=-1), Reject.INVALID_MARKET_SPEC),
        (spec(max_quantity=10**7), Reject.INVALID_MARKET_SPEC),  # below min_quantity
        (spec(min_quantity=15 * 10**6), Reject.INVALID_MARKET_SPEC),  # not a whole number of steps
        (spec(max_quantity=10**11 + 5 * 10**6), Reject.INVALID_MARKET_SPEC),
    ],
)
def test_invalid_markets_are_rejected_without_any_effect(
    with_sol: Exchange, command: AddMarket, code: Reject
) -> None:
    events = with_sol.apply_unchanged(command)
    assert events == [CommandRejected(with_sol.seq, with_sol.seq * 1000, code, "market")]


def test_tick_times_step_of_exactly_one_quote_unit_is_allowed(with_sol: Exchange) -> None:
    # 100 × 10^7 = 10^9: a lot moves by exactly one USDT minor unit per tick.
    assert [type(e) for e in with_sol.apply(spec(tick_size=100))] == [MarketAdded]
    assert with_sol.engine.state.markets["SOL-USDT"].tick_size == 100


def test_duplicate_market_is_rejected_after_the_first(with_sol: Exchange) -> None:
    with_sol.apply(SOL_USDT)
    assert with_sol.reject(SOL_USDT) is Reject.MARKET_EXISTS


def test_default_fee_schedule(h: Exchange) -> None:
    assert h.apply(SetFeeSchedule(5, 7)) == [FeeScheduleChanged(h.seq, h.seq * 1000, 5, 7)]
    assert h.engine.state.default_fees == (5, 7)
    assert h.engine.state.fees_for(A) == (5, 7)


def test_account_fee_override_and_clear(h: Exchange) -> None:
    assert h.apply(SetFeeSchedule(0, 3, account=A)) == [FeeScheduleChanged(h.seq, h.seq * 1000, 0, 3, A)]
    assert h.engine.state.fees_for(A) == (0, 3)
    assert h.engine.state.fees_for(A + 1) == (10, 20)
    assert h.apply(SetFeeSchedule(0, 0, account=A, clear=True)) == [
        FeeScheduleChanged(h.seq, h.seq * 1000, 0, 0, A, True)
    ]
    assert h.engine.state.fees_for(A) == (10, 20)


@pytest.mark.parametrize(("maker", "taker"), [(0, 0), (MAX_FEE_BPS, MAX_FEE_BPS), (0, MAX_FEE_BPS)])
def test_fee_bounds_are_inclusive(h: Exchange, maker: int, taker: int) -> None:
    assert h.apply(SetFeeSchedule(maker, taker)) == [FeeScheduleChanged(h.seq, h.seq * 1000, maker, taker)]


@pytest.mark.parametrize(
    "command",
    [
        SetFeeSchedule(-1, 20),
        SetFeeSchedule(10, -1),
        SetFeeSchedule(MAX_FEE_BPS + 1, 20),
        SetFeeSchedule(10, MAX_FEE_BPS + 1),
        SetFeeSchedule(10, MAX_FEE_BPS + 1, account=A),
    ],
)
def test_fees_out_of_bounds_are_rejected_without_any_effect(h: Exchange, command: Command) -> None:
    assert h.reject(command) is Reject.INVALID_FEE
