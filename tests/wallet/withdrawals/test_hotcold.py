"""Hot/cold policy on the local EVM: above the maximum a hot-to-cold transfer is proposed, below the
minimum an alert metric is raised and a cold-to-hot request recorded; one open record per asset and
direction, resolved when the balance is back in its band. Pending-withdrawal metrics by state and age."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from wcx.runtime import Runtime
from wcx.wallet.withdrawals import WithdrawalPolicy, WithdrawalRequest, service
from wcx.wallet.withdrawals.hotcold import COLD_TO_HOT, HOT_TO_COLD, open_rebalances
from wcx.wallet.withdrawals.metrics import observe_pending
from wcx.wallet.withdrawals.processor import WithdrawalProcessor

from .conftest import BOTH_DATABASES, ETH, USDT, Chain

pytestmark = pytest.mark.anyio


def metric(name: str, **labels: str) -> float | None:
    """A sample's current value."""
    return REGISTRY.get_sample_value(name, labels)


def bounded(policy: WithdrawalPolicy, **bounds: tuple[int, int]) -> WithdrawalPolicy:
    """`policy` with (hot_minimum, hot_maximum) replaced per asset."""
    assets = dict(policy.assets)
    for asset, (low, high) in bounds.items():
        assets[asset] = replace(assets[asset], hot_minimum=low, hot_maximum=high)
    return replace(policy, assets=assets)


async def test_hot_wallet_bands_propose_and_request_rebalances(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain
) -> None:
    # The fixture's hot wallet holds 50 ETH and 100 000 USDT.
    tight = bounded(policy, ETH=(10 * ETH, 40 * ETH), USDT=(200_000 * USDT, 400_000 * USDT))
    proc = WithdrawalProcessor(runtime.db, runtime, tight, {"ethereum": chain.wallet})
    found = {r.asset: r for r in await proc.check_hot_wallets()}
    assert (found["ETH"].direction, found["ETH"].amount) == (HOT_TO_COLD, 25 * ETH)
    assert (found["USDT"].direction, found["USDT"].amount) == (COLD_TO_HOT, 200_000 * USDT)
    assert metric("wallet_hot_wallet_balance", asset="ETH") == 50.0
    assert metric("wallet_hot_wallet_above_maximum", asset="ETH") == 1
    assert metric("wallet_hot_wallet_below_minimum", asset="USDT") == 1
    assert metric("wallet_hot_wallet_below_minimum", asset="ETH") == 0
    # Checking again keeps the one open record per asset and direction.
    await proc.check_hot_wallets()
    assert sorted((r.asset, r.direction) for r in await open_rebalances(runtime.db)) == [
        ("ETH", HOT_TO_COLD),
        ("USDT", COLD_TO_HOT),
    ]
    # Topped up from cold storage: the request is resolved and the alert clears.
    await chain.evm.send_token(chain.wallet.address, 200_000 * USDT)
    await proc.check_hot_wallets()
    assert [(r.asset, r.direction) for r in await open_rebalances(runtime.db)] == [("ETH", HOT_TO_COLD)]
    assert metric("wallet_hot_wallet_below_minimum", asset="USDT") == 0


@BOTH_DATABASES
async def test_pending_metrics_count_states_and_age(
    runtime: Runtime, policy: WithdrawalPolicy, alice: int
) -> None:
    to = "0x52908400098527886E0F7030069857D2E4169EE7"
    for amount in ("1", "6", "7"):
        req = WithdrawalRequest(user_id=alice, asset="ETH", address=to, amount=amount)
        await service.request_withdrawal(runtime.db, runtime, policy, req)
    queued = await service.list_queue(runtime.db)
    later = queued[0].created_at + timedelta(minutes=5)
    await observe_pending(runtime.db, later)
    assert metric("wallet_withdrawals_pending", state="approved") == 1
    assert metric("wallet_withdrawals_pending", state="pending_approval") == 2
    assert metric("wallet_withdrawals_pending", state="signed") == 0
    assert metric("wallet_withdrawals_oldest_age_seconds", state="pending_approval") == pytest.approx(
        300, abs=1
    )
    assert metric("wallet_withdrawals_oldest_age_seconds", state="broadcast") == 0
