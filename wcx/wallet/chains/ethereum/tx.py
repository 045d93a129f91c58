"""Checks on signed Ethereum transactions before they are broadcast (the counterpart of bitcoin's `verify`).

Building and signing live with their users (`wcx.wallet.withdrawals.ethereum` through the `Signer`
port); here a raw transaction is decoded and compared field by field with what was meant to be
signed, and its signer recovered from the signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes

_CHECKED = ("chainId", "nonce", "to", "value", "data", "gas", "maxFeePerGas", "maxPriorityFeePerGas")


def sender_of(raw_tx: bytes) -> str:
    """The address whose key signed `raw_tx` (recovered from its signature)."""
    return str(Account.recover_transaction(raw_tx))


def decode(raw_tx: bytes) -> dict[str, Any]:
    """The fields of a signed EIP-1559/EIP-2930 transaction; ValueError if it is not one."""
    try:
        fields = dict(TypedTransaction.from_bytes(HexBytes(raw_tx)).as_dict())
    except Exception as exc:  # rlp and eth-account raise a variety of errors on garbage
        raise ValueError(f"not a typed Ethereum transaction: {exc}") from None
    if fields.get("to"):
        fields["to"] = to_checksum_address(fields["to"])
    return fields


def verify(raw_tx: bytes, intended: Mapping[str, Any], sender: str) -> bool:
    """Whether `raw_tx` is exactly the `intended` transaction, signed by `sender`."""
    try:
        fields = decode(raw_tx)
        signer = sender_of(raw_tx)
    except ValueError:
        return False
    for name in _CHECKED:
        want = intended.get(name)
        got = fields.get(name)
        if name == "to" and want is not None:
            want = to_checksum_address(want)
        if name == "data":
            want, got = bytes(want or b""), bytes(got or b"")
        if want != got:
            return False
    return signer == to_checksum_address(sender)
