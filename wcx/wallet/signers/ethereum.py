"""Ethereum transactions signed through any `Signer` (the key never leaves the signer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_account._utils.legacy_transactions import (
    Transaction,
    encode_transaction,
    serializable_unsigned_transaction_from_dict,
)
from eth_account.typed_transactions import TypedTransaction
from eth_keys import keys
from eth_utils import keccak

from wcx.wallet.signers.errors import SignerError
from wcx.wallet.signers.port import Signer
from wcx.wallet.signers.signature import uncompressed_public_key


@dataclass(frozen=True, slots=True)
class SignedEthereumTransaction:
    """A signed, RLP-encoded transaction ready for `eth_sendRawTransaction`, its hash and sender."""

    raw: bytes
    tx_hash: bytes
    sender: str


def ethereum_address(public_key: bytes) -> str:
    """The EIP-55 checksummed address of a secp256k1 public key."""
    return str(keys.PublicKey(uncompressed_public_key(public_key)[1:]).to_checksum_address())


def sign_ethereum_transaction(signer: Signer, transaction: Mapping[str, Any]) -> SignedEthereumTransaction:
    """Sign a transaction dict (legacy/EIP-155, EIP-2930 or EIP-1559) through `signer`."""
    fields = dict(transaction)
    fields.pop("from", None)  # the sender is whoever signs; eth-account refuses the key
    try:
        unsigned = serializable_unsigned_transaction_from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise SignerError(f"not a valid Ethereum transaction: {exc}") from exc
    signature = signer.sign_digest(bytes(unsigned.hash()))
    if isinstance(unsigned, TypedTransaction):
        v = signature.ethereum_v(typed=True)
    elif isinstance(unsigned, Transaction):  # EIP-155: the unsigned form carries chain id in v
        v = signature.ethereum_v(int(unsigned.v))
    else:
        v = signature.ethereum_v(None)
    raw = bytes(encode_transaction(unsigned, vrs=(v, signature.r, signature.s)))
    return SignedEthereumTransaction(
        raw=raw, tx_hash=keccak(raw), sender=ethereum_address(signer.public_key())
    )
