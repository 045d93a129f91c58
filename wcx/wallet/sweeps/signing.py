"""Signing planned sweeps with deposit keys derived at each sweep's key index, shared by both key
sources: the cold ceremony (keys of the recovered cold wallet, `wcx.custody.sweep_signing`) and the
automatic sweeper (keys of the HSM-sealed deposit seed, `wcx.wallet.sweeps.auto`).

Each key must own exactly what the sweep spends (the from-address, or every input's script) and the
transaction must pay exactly the planned recipient and amount; otherwise nothing is signed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embit.ec import PublicKey
from embit.psbt import PSBT
from embit.script import address_to_scriptpubkey, p2wpkh
from embit.transaction import Transaction

from wcx.wallet.addresses import MAX_INDEX
from wcx.wallet.chains.bitcoin import tx as btc_tx
from wcx.wallet.chains.ethereum.codec import transfer_call
from wcx.wallet.signers import Signer, ethereum_address, sign_ethereum_transaction

KeyFor = Callable[[int], Signer]
"""The deposit key at a key index (the user id) of the sweep's chain."""


class SigningRefusedError(ValueError):
    """A sweep does not match its key or its plan; nothing was signed."""


@dataclass(frozen=True, slots=True)
class SignedSweep:
    """One signed sweep: its id, transaction hash (txid) and raw transaction."""

    id: str
    hash: str
    raw: bytes


def key_index(value: Any) -> int:
    """A plan's key index, checked to be a non-hardened child index."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INDEX:
        raise SigningRefusedError(f"key index {value!r} is out of range")
    return value


def sign_ethereum_sweep(
    key_for: KeyFor,
    *,
    sweep_id: str,
    kind: str,
    source: str,
    index: int,
    tx: Mapping[str, Any],
    to: str,
    amount: int,
) -> SignedSweep:
    """Sign an ETH (`native`) or ERC-20 (`token`) sweep of `source` with the key at `index`."""
    signer = key_for(key_index(index))
    derived = ethereum_address(signer.public_key())
    if source != derived:
        raise SigningRefusedError(
            f"sweep {sweep_id} spends {source}, but the deposit key at index {index} is {derived}"
        )
    if kind == "token":
        pays = bytes(tx.get("data") or b"") == transfer_call(to, amount) and tx["value"] == 0
    else:
        pays = tx["to"] == to and tx["value"] == amount and not tx.get("data")
    if not pays:
        raise SigningRefusedError(
            f"sweep {sweep_id}: the transaction does not pay {amount} to {to} as planned"
        )
    signed = sign_ethereum_transaction(signer, dict(tx))
    return SignedSweep(sweep_id, "0x" + signed.tx_hash.hex(), signed.raw)


def sign_consolidation(
    key_for: KeyFor, *, sweep_id: str, psbt: PSBT, inputs: Sequence[tuple[str, int]], to: str
) -> SignedSweep:
    """Sign every input of a consolidation PSBT with the key of its (address, key index); finalise, verify."""
    if len(inputs) != len(psbt.inputs) or any(scope.witness_utxo is None for scope in psbt.inputs):
        raise SigningRefusedError(f"sweep {sweep_id}: the plan's inputs do not match the PSBT's")
    hot = address_to_scriptpubkey(to).data
    if any(out.script_pubkey.data != hot for out in psbt.tx.vout):
        raise SigningRefusedError(f"sweep {sweep_id}: the PSBT pays an output other than {to}")
    signers: dict[int, Signer] = {}
    for position, ((address, index), scope) in enumerate(zip(inputs, psbt.inputs, strict=True)):
        if index not in signers:
            signers[index] = key_for(key_index(index))
        signer = signers[index]
        script = p2wpkh(PublicKey.parse(signer.public_key())).data
        if scope.witness_utxo.script_pubkey.data != script or address_to_scriptpubkey(address).data != script:
            raise SigningRefusedError(
                f"sweep {sweep_id} input {position} spends {address}, not the deposit key at index {index}"
            )
    for signer in signers.values():
        btc_tx.sign_payment(psbt, signer)
    try:
        raw = btc_tx.finalize(psbt)
    except btc_tx.PaymentError as exc:
        raise SigningRefusedError(f"sweep {sweep_id}: {exc}") from None
    if not btc_tx.verify(raw, btc_tx.spent_outputs(psbt)):
        raise SigningRefusedError(f"sweep {sweep_id}: the signed transaction does not verify")
    return SignedSweep(sweep_id, Transaction.parse(raw).txid().hex(), raw)
