"""KYC limits the API enforces: trading per tier on order entry, withdrawal limits for the pipeline.

The price source values assets in the reference asset from the engine's last prices: the market's
last trade (SQL), else the middle of its best bid and ask, directly or through one other asset.
"""

from __future__ import annotations

from fractions import Fraction

from wcx.api.errors import ApiError
from wcx.kyc import FixedPrices, LimitExceeded, metrics
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.store import queries


async def _last_price(runtime: Runtime, symbol: str) -> int | None:
    """The market's last trade price, else the middle of the best bid and ask (quote minor units)."""
    trades = await queries.recent_trades(runtime.db, symbol, limit=1)
    if trades:
        return trades[0].price
    book = runtime.engine.state.markets[symbol].book
    bids, asks = book.bids.depth(1), book.asks.depth(1)
    if bids and asks:
        return (bids[0][0] + asks[0][0]) // 2
    return None


async def engine_prices(runtime: Runtime) -> FixedPrices:
    """Reference-asset rates for every asset with a market to it, directly or through one other asset."""
    await runtime.projected()  # the newest trades reach SQL through the projector
    state = runtime.engine.state
    reference = runtime.kyc.config.reference_asset
    direct: dict[tuple[str, str], Fraction] = {}
    for symbol, market in state.markets.items():
        price = await _last_price(runtime, symbol)
        if not price:
            continue
        rate = Fraction(price, 10 ** state.assets[market.base])  # quote minor units per base minor unit
        direct[(market.base, market.quote)] = rate
        direct[(market.quote, market.base)] = 1 / rate
    rates: dict[str, Fraction] = {}
    for asset in state.assets:
        if (asset, reference) in direct:
            rates[asset] = direct[(asset, reference)]
            continue
        for (source, via), rate in direct.items():
            if source == asset and (via, reference) in direct:
                rates[asset] = rate * direct[(via, reference)]
                break
    return FixedPrices(reference, rates)


def _refusal(runtime: Runtime, refusal: LimitExceeded) -> ApiError:
    metrics.LIMIT_REFUSALS.labels(refusal.code).inc()
    scale = runtime.kyc.config.reference_scale
    reference = runtime.kyc.config.reference_asset
    details = [
        f"{name} {format_amount(value, scale)} {reference}"
        for name, value in (
            ("limit", refusal.limit),
            ("used", refusal.used),
            ("requested", refusal.requested),
        )
        if value is not None and (name != "limit" or refusal.used is not None)
    ]
    message = refusal.message + (f" ({', '.join(details)})" if details else "")
    return ApiError(403, refusal.code, message)


async def require_trading_allowed(runtime: Runtime, user_id: int) -> None:
    """Raise 403 KYC_TRADING_NOT_ALLOWED unless the user's tier may trade."""
    refusal = await runtime.kyc.check_trading_allowed(runtime.db, user_id)
    if refusal is not None:
        raise _refusal(runtime, refusal)


async def require_withdrawal_allowed(runtime: Runtime, user_id: int, asset: str, amount: int) -> None:
    """Raise 403 with a KYC_* code unless withdrawing `amount` (minor units, fee included) fits the tier.

    Call it right before the engine hold, inside the pipeline's per-user serialisation.
    """
    prices = await engine_prices(runtime)  # waits for the projection: usage includes the newest holds
    async with runtime.db.connect() as conn:
        refusal = await runtime.kyc.check_withdrawal_allowed(conn, user_id, asset, amount, prices)
    if refusal is not None:
        raise _refusal(runtime, refusal)
