"""Sweeps from configuration: each asset's sweep minimum (`config/withdrawals.toml`) and one target per
chain that has a hot wallet (a node and the hot-wallet signer; see `wcx.wallet.withdrawals.wiring`)."""

from __future__ import annotations

from collections.abc import Mapping

from wcx.wallet.config import ChainsConfig
from wcx.wallet.sweeps.planner import SweepTarget
from wcx.wallet.withdrawals.config import WithdrawalSettings, load_policy
from wcx.wallet.withdrawals.processor import HotWallet


def sweep_minimums(config: ChainsConfig) -> dict[str, int]:
    """asset -> sweep minimum in minor units (at the chains' decimals, which equal the engine's scales)."""
    scales = {asset.code: asset.decimals for chain in config.chains for asset in chain.assets}
    policy = load_policy(WithdrawalSettings().withdrawals_file, scales, config)
    return {code: asset.sweep_minimum for code, asset in policy.assets.items()}


def sweep_targets(config: ChainsConfig, wallets: Mapping[str, HotWallet]) -> list[SweepTarget]:
    """One target per chain with a hot wallet: its node, the hot address and the sweep minimums."""
    minimums = sweep_minimums(config)
    return [
        SweepTarget(config.chain(name), wallet.node, wallet.address, minimums, wallet.chain_id)
        for name, wallet in sorted(wallets.items())
    ]
