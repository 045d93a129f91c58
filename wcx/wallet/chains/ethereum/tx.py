"""Ethereum payments: EIP-1559 transactions for ETH and ERC-20 transfers, signed through a `Signer`."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_utils import to_checksum_address

from wcx.wallet.chains.ethereum.codec import transfer_call
from wcx.wallet.chains.port import FeeEstimate
from wcx.wallet.signers.ethereum import SignedEthereumTransaction, sign_ethereum_transaction
from wcx.wallet.signers.port import Signer

NATIVE_GAS = 21_000
TOKEN_GAS = 100_000
"""A ceiling for an ERC-20 `transfer` (about 35-65k in practice); unused gas is not charged."""


def build_payment(
    *,
    chain_id: int,
    nonce: int,
    to: str,
    amount: int,
    fee: FeeEstimate,
    token: str = "",
    gas: int | None = None,
) -> dict[str, Any]:
    """An unsigned EIP-1559 transaction paying `amount` wei, or token units of the `token` contract."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    recipient = to_checksum_address(to)
    common = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": fee.rate,
        "maxPriorityFeePerGas": min(fee.tip, fee.rate),
    }
    if not token:
        return {**common, "to": recipient, "value": amount, "gas": gas or NATIVE_GAS, "data": b""}
    return {
        **common,
        "to": to_checksum_address(token),
        "value": 0,
        "gas": gas or TOKEN_GAS,
        "data": transfer_call(recipient, amount),
    }


def sign_payment(signer: Signer, transaction: dict[str, Any]) -> SignedEthereumTransaction:
    """Sign through the signer (an HSM key never leaves the token)."""
    return sign_ethereum_transaction(signer, transaction)


def sender_of(raw_tx: bytes) -> str:
    """The address whose key signed `raw_tx` (recovered from the signature): a check before broadcasting."""
    return str(Account.recover_transaction(raw_tx))
