"""Bitcoin payments as PSBTs (embit): build from unspent outputs, sign through a `Signer`, finalise.

Only P2WPKH inputs (our BIP84 deposit and hot-wallet addresses) are signed; the signer sees nothing
but BIP143 digests, so an HSM key works exactly like a development one. `verify` re-checks every
input's signature against its previous output before anything is broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from embit.ec import PublicKey
from embit.ec import Signature as EcSignature
from embit.finalizer import finalize_psbt
from embit.psbt import PSBT
from embit.script import Script, address_to_scriptpubkey, p2pkh_from_p2wpkh, p2wpkh
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from wcx.wallet.chains.bitcoin.node import Utxo
from wcx.wallet.signers.port import Signer

DUST_SATS = 294
"""The smallest P2WPKH output relayed at the default dust fee rate."""
_VBYTES_OVERHEAD, _VBYTES_INPUT, _VBYTES_OUTPUT = 11, 68, 31  # P2WPKH in and out, rounded up


class PaymentError(ValueError):
    """The payment cannot be built (not enough funds, dust, no inputs); the message says which."""


@dataclass(frozen=True, slots=True)
class Payment:
    """An unsigned PSBT with what it spends, pays and leaves as fee."""

    psbt: PSBT
    spent: tuple[Utxo, ...]
    fee: int
    change: int


def estimated_vsize(inputs: int, outputs: int) -> int:
    """Virtual size of a P2WPKH-only transaction, rounded up."""
    return _VBYTES_OVERHEAD + _VBYTES_INPUT * inputs + _VBYTES_OUTPUT * outputs


def build_payment(
    utxos: Sequence[Utxo], pay_to: Sequence[tuple[str, int]], change_address: str, fee_rate: int
) -> Payment:
    """A PSBT paying `pay_to` [(address, sats)] from `utxos` (largest first), change back if above dust."""
    if not pay_to or any(sats < DUST_SATS for _, sats in pay_to):
        raise PaymentError(f"every output must be at least {DUST_SATS} sats")
    wanted = sum(sats for _, sats in pay_to)
    chosen: list[Utxo] = []
    total = 0
    for utxo in sorted(utxos, key=lambda u: (-u.amount, u.txid, u.vout)):
        chosen.append(utxo)
        total += utxo.amount
        if total >= wanted + fee_rate * estimated_vsize(len(chosen), len(pay_to) + 1):
            break
    fee_with_change = fee_rate * estimated_vsize(len(chosen), len(pay_to) + 1)
    fee_without = fee_rate * estimated_vsize(len(chosen), len(pay_to))
    if total < wanted + fee_without:
        raise PaymentError(f"insufficient funds: {total} sats for {wanted} plus fees")
    change = total - wanted - fee_with_change
    outputs = [TransactionOutput(sats, address_to_scriptpubkey(address)) for address, sats in pay_to]
    if change >= DUST_SATS:
        outputs.append(TransactionOutput(change, address_to_scriptpubkey(change_address)))
        fee = fee_with_change
    else:
        change, fee = 0, total - wanted  # below dust: the remainder goes to the miner
    inputs = [TransactionInput(bytes.fromhex(u.txid), u.vout, sequence=0xFFFFFFFD) for u in chosen]
    psbt = PSBT(Transaction(version=2, vin=inputs, vout=outputs))
    for psbt_input, utxo in zip(psbt.inputs, chosen, strict=True):
        psbt_input.witness_utxo = TransactionOutput(utxo.amount, Script(utxo.script_pubkey))
    return Payment(psbt, tuple(chosen), fee, change)


def sign_payment(psbt: PSBT, signer: Signer) -> int:
    """Add the signer's signature to every input it owns (P2WPKH of its key); how many it signed."""
    public = signer.public_key()
    ours = p2wpkh(PublicKey.parse(public))
    signed = 0
    for index, psbt_input in enumerate(psbt.inputs):
        if psbt_input.witness_utxo is None or psbt_input.witness_utxo.script_pubkey != ours:
            continue
        digest = psbt.sighash(index, SIGHASH.ALL)
        signature = signer.sign_digest(digest)
        psbt_input.partial_sigs[PublicKey.parse(public)] = signature.to_der() + bytes([SIGHASH.ALL])
        signed += 1
    return signed


def finalize(psbt: PSBT) -> bytes:
    """The broadcastable transaction; PaymentError if an input is still unsigned."""
    final = finalize_psbt(psbt)
    if final is None:
        raise PaymentError("an input has no signature")
    return bytes(final.serialize())


def spent_outputs(psbt: PSBT) -> list[Utxo]:
    """The outputs a PSBT's inputs spend, from their witness UTXOs (ValueError if one lacks it)."""
    if any(scope.witness_utxo is None for scope in psbt.inputs):
        raise ValueError("every PSBT input needs its witness UTXO (amount and script)")
    return [
        Utxo(vin.txid.hex(), vin.vout, scope.witness_utxo.value, scope.witness_utxo.script_pubkey.data, 0)
        for vin, scope in zip(psbt.tx.vin, psbt.inputs, strict=True)
    ]


def verify(raw_tx: bytes, spent: Sequence[Utxo]) -> bool:
    """Whether every input of `raw_tx` carries a valid P2WPKH signature over the output it spends."""
    tx = Transaction.parse(raw_tx)
    by_outpoint = {(u.txid, u.vout): u for u in spent}
    for index, vin in enumerate(tx.vin):
        utxo = by_outpoint.get((vin.txid.hex(), vin.vout))
        if utxo is None or len(vin.witness.items) != 2:
            return False
        der_sig, public = vin.witness.items
        if der_sig[-1] != SIGHASH.ALL:
            return False
        pubkey = PublicKey.parse(public)
        if p2wpkh(pubkey).data != utxo.script_pubkey:
            return False
        script_code = p2pkh_from_p2wpkh(Script(utxo.script_pubkey))
        digest = tx.sighash_segwit(index, script_code, utxo.amount, sighash=SIGHASH.ALL)
        if not pubkey.verify(EcSignature.parse(der_sig[:-1]), digest):
            return False
    return True
