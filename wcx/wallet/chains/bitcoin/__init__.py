"""Bitcoin over bitcoind's JSON-RPC; PSBT building and signing with embit."""

from wcx.wallet.chains.bitcoin.node import BitcoinNode, Utxo

__all__ = ["BitcoinNode", "Utxo"]
