"""Ethereum withdrawal transactions: EIP-1559 fields for a native ETH payment or an ERC-20 `transfer`,
signed through the `Signer` port (the hot key never leaves the HSM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from wcx.wallet.chains.ethereum.codec import hex0x, transfer_call
from wcx.wallet.chains.port import CallRevertedError, ChainNode, FeeEstimate
from wcx.wallet.signers import SignedEthereumTransaction, Signer, sign_ethereum_transaction

TOKEN_GAS = 100_000
"""The limit of an ERC-20 `transfer` the node expects to revert: the balance checks then name the cause."""


@dataclass(frozen=True, slots=True)
class Payment:
    """What one withdrawal sends: `amount` of the native coin, or of the token at `contract`."""

    to: str
    amount: int
    contract: str = ""


async def payment_gas(node: ChainNode, sender: str, payment: Payment) -> int:
    """The node's gas estimate (with its margin) for `payment` sent from `sender`."""
    if not payment.contract:
        return await node.estimate_gas(sender, payment.to, payment.amount)
    data = transfer_call(to_checksum_address(payment.to), payment.amount)
    try:
        return await node.estimate_gas(sender, payment.contract, 0, data)
    except CallRevertedError:
        return TOKEN_GAS


def payment_transaction(
    payment: Payment, *, chain_id: int, nonce: int, fee: FeeEstimate, gas: int
) -> dict[str, Any]:
    """The unsigned EIP-1559 (type 2) transaction dict for `payment` with gas limit `gas`."""
    tip = min(fee.tip, fee.rate)
    fields: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "maxFeePerGas": fee.rate,
        "maxPriorityFeePerGas": tip,
        "accessList": [],
    }
    if payment.contract:
        data = transfer_call(to_checksum_address(payment.to), payment.amount)
        return {
            **fields,
            "to": to_checksum_address(payment.contract),
            "value": 0,
            "gas": gas,
            "data": data,
        }
    return {
        **fields,
        "to": to_checksum_address(payment.to),
        "value": payment.amount,
        "gas": gas,
        "data": b"",
    }


def max_gas_cost(transaction: dict[str, Any]) -> int:
    """Wei the sender must hold for gas at worst (gas limit x max fee)."""
    return int(transaction["gas"]) * int(transaction["maxFeePerGas"])


def sign_payment(signer: Signer, transaction: dict[str, Any]) -> tuple[bytes, str]:
    """(raw transaction, 0x tx hash), signed through `signer` (blocking: run it in a thread)."""
    signed: SignedEthereumTransaction = sign_ethereum_transaction(signer, transaction)
    return signed.raw, hex0x(signed.tx_hash)
