"""Ethereum (ETH and ERC-20 tokens) over JSON-RPC with web3.py."""

from wcx.wallet.chains.ethereum.node import EthereumNode

__all__ = ["EthereumNode"]
