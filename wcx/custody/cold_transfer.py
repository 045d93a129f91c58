"""Signing a prepared cold-to-hot Ethereum transaction with a recovered cold wallet, in memory only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_utils import is_checksum_address

from wcx.custody.ceremony import Recovery
from wcx.custody.errors import CustodyError
from wcx.custody.keys import ethereum_private_key
from wcx.wallet.signers import (
    SignedEthereumTransaction,
    SignerError,
    ethereum_address,
    sign_ethereum_transaction,
)
from wcx.wallet.signers.signature import Signature, public_key_of, sign_with_private_key

_INT_FIELDS = ("chainId", "nonce", "value", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "type")
_ALLOWED = {*_INT_FIELDS, "to", "from", "data", "accessList"}


class ColdKeySigner:
    """A `Signer` over one cold-wallet key that exists only in this process for the ceremony."""

    backend = "cold"

    def __init__(self, recovery: Recovery, index: int = 0) -> None:
        self._secret = ethereum_private_key(recovery.seed, index)
        self._key_id = f"cold:{recovery.keys.fingerprint}/m/44'/60'/0'/0/{index}"

    @property
    def key_id(self) -> str:
        """`cold:<fingerprint>/<derivation path>`."""
        return self._key_id

    def public_key(self) -> bytes:
        """The 33-byte compressed public key."""
        return public_key_of(self._secret)

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest with the recovered key."""
        return sign_with_private_key(self._secret, digest)


def load_transaction(path: Path) -> dict[str, Any]:
    """A prepared transaction from JSON: integers as numbers, decimal or 0x-hex strings."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CustodyError(f"{path}: cannot read the prepared transaction: {exc}") from exc
    if not isinstance(document, dict):
        raise CustodyError(f"{path}: a prepared transaction is a JSON object")
    return parse_transaction(document)


def parse_transaction(document: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise a prepared transaction's fields; CustodyError naming the bad one."""
    unknown = set(document) - _ALLOWED
    if unknown:
        raise CustodyError(f"unknown transaction fields: {', '.join(sorted(unknown))}")
    for required in ("chainId", "nonce", "to", "value", "gas"):
        if required not in document:
            raise CustodyError(f"the prepared transaction lacks {required!r}")
    tx: dict[str, Any] = {}
    for name, value in document.items():
        if name in _INT_FIELDS:
            tx[name] = _integer(name, value)
        elif name in ("to", "from"):
            if not isinstance(value, str) or not is_checksum_address(value):
                raise CustodyError(f"{name!r} must be an EIP-55 checksummed address")
            tx[name] = value
        elif name == "data":
            tx[name] = _hex_bytes(value)
        else:
            tx[name] = value
    if "gasPrice" not in tx and not {"maxFeePerGas", "maxPriorityFeePerGas"} <= set(tx):
        raise CustodyError("give gasPrice, or maxFeePerGas and maxPriorityFeePerGas")
    return tx


def sign_cold_transfer(
    recovery: Recovery, transaction: Mapping[str, Any], *, index: int = 0, hot_address: str | None = None
) -> SignedEthereumTransaction:
    """Sign a cold-to-hot transfer; refuses a `from` not of this key or a `to` other than `hot_address`."""
    signer = ColdKeySigner(recovery, index)
    sender = ethereum_address(signer.public_key())
    if "from" in transaction and transaction["from"] != sender:
        raise CustodyError(f"the transaction is from {transaction['from']}, the recovered key is {sender}")
    if hot_address is not None and transaction["to"] != hot_address:
        raise CustodyError(f"the transaction pays {transaction['to']}, not the hot wallet {hot_address}")
    try:
        return sign_ethereum_transaction(signer, transaction)
    except SignerError as exc:
        raise CustodyError(str(exc)) from exc


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise CustodyError(f"{name!r} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            number = int(value, 16)
        except ValueError as exc:
            raise CustodyError(f"{name!r} is not a hex integer") from exc
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    else:
        raise CustodyError(f"{name!r} must be an integer (JSON number, decimal or 0x-hex string)")
    if number < 0:
        raise CustodyError(f"{name!r} must not be negative")
    return number


def _hex_bytes(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise CustodyError("'data' must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError as exc:
        raise CustodyError("'data' is not valid hex") from exc
