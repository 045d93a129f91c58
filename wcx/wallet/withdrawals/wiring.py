"""Build the withdrawal processor from configuration (`wcx serve` runs it in the wallet role).

A chain gets a hot wallet when it has a node (`rpc_url` in chains.toml, ETH_RPC_URL or BTC_RPC_URL)
and the hot-wallet signer can be opened (WALLET_SIGNER, HSM_* or KEYSTORE_*). Without any, the
processor still finishes what needs no chain (orphaned holds, approval decisions, releases of
rejected and cancelled withdrawals, the pending metrics); approved withdrawals wait for a hot wallet.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.wallet.chains.bitcoin.node import BitcoinNode
from wcx.wallet.config import ChainKind, ChainsConfig, WalletSettings, load_chains
from wcx.wallet.signers import SignerError, SignerSettings, build_signer
from wcx.wallet.withdrawals.config import WithdrawalSettings, load_policy
from wcx.wallet.withdrawals.processor import (
    HotWallet,
    WithdrawalProcessor,
    bitcoin_hot_wallet,
    ethereum_hot_wallet,
)
from wcx.wallet.withdrawals.records import Ledger

log = get_logger(__name__)


async def build_processor(db: AsyncEngine, ledger: Ledger, *, development: bool) -> WithdrawalProcessor:
    """A processor with a hot wallet for every chain that has a node, when a signer is configured."""
    config = load_chains(WalletSettings(), development=development)
    policy = load_policy(WithdrawalSettings().withdrawals_file, ledger.engine.state.assets, config)
    return WithdrawalProcessor(db, ledger, policy, await hot_wallets(config))


async def hot_wallets(config: ChainsConfig) -> dict[str, HotWallet]:
    """A hot wallet for every configured chain with a node, when the hot-wallet signer opens (else none)."""
    wallets: dict[str, HotWallet] = {}
    chains = [spec for spec in config.chains if spec.rpc_url]
    if not chains:
        return wallets
    settings = WithdrawalSettings()
    try:
        signer = build_signer(SignerSettings())
    except SignerError as exc:
        log.warning("no hot-wallet signer: approved withdrawals and gas top-ups wait for one", error=str(exc))
        return wallets
    # web3 is imported only when a chain is configured: the default start-up stays light.
    from wcx.wallet.chains.ethereum import EthereumNode

    for spec in chains:
        if spec.kind is ChainKind.BITCOIN:
            wallets[spec.name] = bitcoin_hot_wallet(
                spec, BitcoinNode.from_spec(spec), signer, settings.btc_fee_bump_blocks
            )
        else:
            node = EthereumNode.from_spec(spec)
            wallets[spec.name] = ethereum_hot_wallet(spec, node, signer, await node.chain_id())
        log.info("hot wallet", chain=spec.name, address=wallets[spec.name].address, key=signer.key_id)
    return wallets
