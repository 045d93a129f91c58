"""Reference data: assets, markets, market status and fee schedules."""

from __future__ import annotations

from wcx.engine.codes import Reject
from wcx.engine.commands import AddAsset, AddMarket, SetFeeSchedule, SetMarketStatus
from wcx.engine.events import (
    AssetAdded,
    CommandRejected,
    Event,
    FeeScheduleChanged,
    MarketAdded,
    MarketStatusChanged,
)
from wcx.engine.state import FEE_ACCOUNT, EngineState, Market
from wcx.primitives import Asset, valid_symbol

MAX_FEE_BPS = 1_000


def add_asset(st: EngineState, seq: int, ts: int, cmd: AddAsset, out: list[Event]) -> None:
    """Register an asset."""
    try:
        Asset(cmd.code, cmd.scale)
    except ValueError:
        out.append(CommandRejected(seq, ts, Reject.INVALID_MARKET_SPEC, "asset"))
        return
    if cmd.code in st.assets:
        out.append(CommandRejected(seq, ts, Reject.ASSET_EXISTS, "asset"))
        return
    st.assets[cmd.code] = cmd.scale
    out.append(AssetAdded(seq, ts, cmd.code, cmd.scale))


def _market_spec_error(st: EngineState, cmd: AddMarket) -> Reject | None:
    if cmd.base not in st.assets or cmd.quote not in st.assets:
        return Reject.UNKNOWN_ASSET
    if cmd.symbol in st.markets:
        return Reject.MARKET_EXISTS
    if not valid_symbol(cmd.symbol) or cmd.base == cmd.quote:
        return Reject.INVALID_MARKET_SPEC
    if min(cmd.tick_size, cmd.lot_step, cmd.min_quantity) <= 0 or cmd.min_notional < 0:
        return Reject.INVALID_MARKET_SPEC
    if (
        cmd.max_quantity < cmd.min_quantity
        or cmd.min_quantity % cmd.lot_step
        or cmd.max_quantity % cmd.lot_step
    ):
        return Reject.INVALID_MARKET_SPEC
    # Every trade's quote amount must be a whole number of quote minor units: no rounding, ever.
    if (cmd.tick_size * cmd.lot_step) % 10 ** st.assets[cmd.base]:
        return Reject.INVALID_MARKET_SPEC
    return None


def add_market(st: EngineState, seq: int, ts: int, cmd: AddMarket, out: list[Event]) -> None:
    """Open a market after checking its filters are consistent."""
    code = _market_spec_error(st, cmd)
    if code is not None:
        out.append(CommandRejected(seq, ts, code, "market"))
        return
    st.markets[cmd.symbol] = Market(
        cmd.symbol,
        cmd.base,
        cmd.quote,
        st.assets[cmd.base],
        cmd.tick_size,
        cmd.lot_step,
        cmd.min_quantity,
        cmd.max_quantity,
        cmd.min_notional,
        cmd.status,
        st.account(FEE_ACCOUNT).balance(cmd.quote),
    )
    out.append(
        MarketAdded(
            seq,
            ts,
            cmd.symbol,
            cmd.base,
            cmd.quote,
            cmd.tick_size,
            cmd.lot_step,
            cmd.min_quantity,
            cmd.max_quantity,
            cmd.min_notional,
            cmd.status,
        )
    )


def set_market_status(st: EngineState, seq: int, ts: int, cmd: SetMarketStatus, out: list[Event]) -> None:
    """Change a market's status; open orders stay as they are."""
    market = st.markets.get(cmd.symbol)
    if market is None:
        out.append(CommandRejected(seq, ts, Reject.UNKNOWN_MARKET, "status"))
        return
    market.status = cmd.status
    out.append(MarketStatusChanged(seq, ts, cmd.symbol, cmd.status))


def set_fee_schedule(st: EngineState, seq: int, ts: int, cmd: SetFeeSchedule, out: list[Event]) -> None:
    """Change default fees or an account override; open orders keep the fees they were accepted with."""
    if not (0 <= cmd.maker_bps <= MAX_FEE_BPS and 0 <= cmd.taker_bps <= MAX_FEE_BPS):
        out.append(CommandRejected(seq, ts, Reject.INVALID_FEE, "fees"))
        return
    if cmd.account is not None and cmd.account <= 0:
        out.append(CommandRejected(seq, ts, Reject.INVALID_ACCOUNT, "fees"))
        return
    if cmd.account is None:
        st.default_fees = (cmd.maker_bps, cmd.taker_bps)
    elif cmd.clear:
        st.fee_overrides.pop(cmd.account, None)
    else:
        st.fee_overrides[cmd.account] = (cmd.maker_bps, cmd.taker_bps)
    out.append(FeeScheduleChanged(seq, ts, cmd.maker_bps, cmd.taker_bps, cmd.account, cmd.clear))
