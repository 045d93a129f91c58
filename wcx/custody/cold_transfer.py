"""Signing prepared cold-to-hot transfers (Ethereum JSON, Bitcoin PSBT) with a recovered cold wallet."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embit.ec import PublicKey
from embit.psbt import PSBT
from embit.script import address_to_scriptpubkey, p2wpkh
from embit.transaction import Transaction
from eth_utils import is_checksum_address

from wcx.custody.ceremony import Recovery
from wcx.custody.errors import CustodyError
from wcx.custody.keys import bitcoin_private_key
from wcx.wallet.chains.bitcoin.tx import PaymentError, finalize, sign_payment, spent_outputs, verify
from wcx.wallet.signers import (
    SignedEthereumTransaction,
    SignerError,
    ethereum_address,
    sign_ethereum_transaction,
)
from wcx.wallet.signers.derived import DerivedKeySigner, ethereum_private_key

_INT_FIELDS = ("chainId", "nonce", "value", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "type")
_ALLOWED = {*_INT_FIELDS, "to", "from", "data", "accessList"}


class ColdKeySigner(DerivedKeySigner):
    """A `Signer` over one cold-wallet key that exists only in this process for the ceremony."""

    backend = "cold"

    @classmethod
    def ethereum(cls, recovery: Recovery, index: int = 0) -> ColdKeySigner:
        """The BIP44 Ethereum key m/44'/60'/0'/0/index."""
        path = f"m/44'/60'/0'/0/{index}"
        return cls(ethereum_private_key(recovery.seed, index), f"cold:{recovery.keys.fingerprint}/{path}")

    @classmethod
    def bitcoin(cls, recovery: Recovery, index: int = 0) -> ColdKeySigner:
        """The BIP84 receive key of the record's network at `index`."""
        path = f"{recovery.keys.btc_path}/0/{index}"
        secret = bitcoin_private_key(recovery.seed, recovery.keys.network, index)
        return cls(secret, f"cold:{recovery.keys.fingerprint}/{path}")


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
    signer = ColdKeySigner.ethereum(recovery, index)
    sender = ethereum_address(signer.public_key())
    if "from" in transaction and transaction["from"] != sender:
        raise CustodyError(f"the transaction is from {transaction['from']}, the recovered key is {sender}")
    if hot_address is not None and transaction["to"] != hot_address:
        raise CustodyError(f"the transaction pays {transaction['to']}, not the hot wallet {hot_address}")
    try:
        return sign_ethereum_transaction(signer, transaction)
    except SignerError as exc:
        raise CustodyError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class SignedBitcoinTransaction:
    """A finalised, verified Bitcoin transaction and how many inputs the cold key signed."""

    raw: bytes
    txid: str
    signed_inputs: int


def sign_cold_psbt(
    recovery: Recovery, psbt_text: str, *, index: int = 0, hot_address: str | None = None
) -> SignedBitcoinTransaction:
    """Sign the cold key's inputs of a PSBT; with `hot_address`, outputs may only pay it or change."""
    try:
        psbt = PSBT.from_string(psbt_text.strip())
    except Exception as exc:  # embit raises assorted errors on malformed input
        raise CustodyError(f"not a valid PSBT: {exc}") from exc
    signer = ColdKeySigner.bitcoin(recovery, index)
    ours = p2wpkh(PublicKey.parse(signer.public_key()))
    if hot_address is not None:
        allowed = {address_to_scriptpubkey(hot_address).data, ours.data}
        stray = [out for out in psbt.tx.vout if out.script_pubkey.data not in allowed]
        if stray:
            raise CustodyError(
                f"the PSBT pays {len(stray)} output(s) that are neither the hot wallet nor change"
            )
    if any(i.witness_utxo is None for i in psbt.inputs):
        raise CustodyError("every PSBT input needs its witness UTXO (amount and script) to be signed safely")
    signed = sign_payment(psbt, signer)
    if signed == 0:
        raise CustodyError(f"the PSBT spends nothing of the cold key at index {index}")
    return finalize_verified(psbt, signed)


def finalize_verified(psbt: PSBT, signed_inputs: int) -> SignedBitcoinTransaction:
    """The finalised transaction of a fully signed PSBT, every input's signature checked offline."""
    try:
        raw = finalize(psbt)
    except PaymentError as exc:
        raise CustodyError(f"the PSBT spends inputs of other keys too: {exc}") from exc
    if not verify(raw, spent_outputs(psbt)):
        raise CustodyError("the signed transaction does not verify")
    return SignedBitcoinTransaction(
        raw=raw, txid=Transaction.parse(raw).txid().hex(), signed_inputs=signed_inputs
    )


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
