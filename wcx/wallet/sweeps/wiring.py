"""Sweeps from configuration: each asset's sweep minimum (`config/withdrawals.toml`), one target per
chain that has a hot wallet (a node and the hot-wallet signer; see `wcx.wallet.withdrawals.wiring`),
and the automatic sweeper when a sealed deposit seed is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.wallet.config import ChainsConfig
from wcx.wallet.signers import SignerSettings
from wcx.wallet.sweeps.auto import AutoSweeper, AutoSweepSettings
from wcx.wallet.sweeps.planner import SweepTarget
from wcx.wallet.sweeps.seed import DepositKeys, SealedSeed, unseal_seed
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


async def build_auto_sweeper(
    db: AsyncEngine, config: ChainsConfig, wallets: Mapping[str, HotWallet]
) -> AutoSweeper | None:
    """The automatic sweeper when DEPOSIT_SEED_FILE names a sealed deposit seed (else None).

    The seed is decrypted by the hot key's HSM token (PKCS11_MODULE, HSM_TOKEN_LABEL, HSM_PIN) and
    kept in this process's memory only; DepositSeedError if it does not open.
    """
    settings = AutoSweepSettings()
    if not settings.deposit_seed_file or not wallets:
        return None
    hsm = SignerSettings()
    sealed = SealedSeed.load(Path(settings.deposit_seed_file))
    seed = await asyncio.to_thread(
        unseal_seed, sealed, module=hsm.pkcs11_module, token_label=hsm.hsm_token_label, pin=hsm.pin()
    )
    return AutoSweeper(db, sweep_targets(config, wallets), DepositKeys(seed, sealed.key_label))
