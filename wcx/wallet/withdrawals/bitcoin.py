"""Bitcoin withdrawal transactions: coin selection over the hot wallet's P2WPKH outputs, a PSBT built
with embit, each input's BIP143 digest signed through the `Signer` port (the key stays in the HSM),
then finalised into the raw transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from embit import ec
from embit.networks import NETWORKS
from embit.psbt import PSBT
from embit.script import Script, Witness, address_to_scriptpubkey, p2wpkh
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from wcx.wallet.chains.bitcoin.node import Utxo
from wcx.wallet.signers import Signer

EMBIT_NETWORK = {"mainnet": "main", "testnet": "test", "regtest": "regtest", "local": "regtest"}
# Virtual sizes of a P2WPKH spend: 10.5 vB of envelope, 68 vB per input, 31 vB per output.
OVERHEAD_VB = 11
INPUT_VB = 68
OUTPUT_VB = 31
DUST = 294
"""Below this a P2WPKH change output costs more to spend than it holds: it goes to the fee instead."""
RBF_SEQUENCE = 0xFFFFFFFD
"""nSequence below 0xFFFFFFFE: the transaction signals BIP125 replaceability."""
INCREMENTAL_RELAY_FEE = 1
"""sat/vB a replacement must add on top of the fee it replaces, per vB of its own size (BIP125 rule 4;
bitcoind's default `-incrementalrelayfee`)."""


class InsufficientFundsError(ValueError):
    """The spendable outputs do not cover the amount plus the fee."""


class CannotBumpError(ValueError):
    """The change of a payment cannot pay the higher fee its replacement needs."""


@dataclass(frozen=True, slots=True)
class BitcoinPayment:
    """A signed payment: the raw transaction, its txid and the fee it pays."""

    raw: bytes
    txid: str
    fee: int
    psbt: str


def hot_address(signer: Signer, network: str) -> str:
    """The signer key's native segwit (P2WPKH) address on `network`."""
    return str(p2wpkh(ec.PublicKey.parse(signer.public_key())).address(NETWORKS[EMBIT_NETWORK[network]]))


def virtual_size(inputs: int, outputs: int) -> int:
    """Virtual bytes of a P2WPKH transaction with this many inputs and outputs (rounded up)."""
    return OVERHEAD_VB + INPUT_VB * inputs + OUTPUT_VB * outputs


def select_coins(utxos: Sequence[Utxo], amount: int, fee_rate: int) -> tuple[list[Utxo], int, int]:
    """Largest outputs first until amount + fee is covered; (chosen, fee, change)."""
    chosen: list[Utxo] = []
    total = 0
    for utxo in sorted(utxos, key=lambda u: (-u.amount, u.txid, u.vout)):
        chosen.append(utxo)
        total += utxo.amount
        with_change = fee_rate * virtual_size(len(chosen), 2)
        if total >= amount + with_change and total - amount - with_change >= DUST:
            return chosen, with_change, total - amount - with_change
        without_change = fee_rate * virtual_size(len(chosen), 1)
        if total >= amount + without_change:
            return chosen, total - amount, 0  # the remainder (< dust + change cost) is the fee
    raise InsufficientFundsError(f"spendable {total} sat cannot pay {amount} sat plus the fee")


def build_psbt(
    utxos: Sequence[Utxo], *, to: str, amount: int, fee_rate: int, change_script: bytes
) -> tuple[PSBT, int]:
    """An unsigned PSBT paying `amount` to `to` (change back to `change_script`); the PSBT and its fee."""
    chosen, fee, change = select_coins(utxos, amount, max(fee_rate, 1))
    vin = [TransactionInput(bytes.fromhex(u.txid), u.vout, sequence=RBF_SEQUENCE) for u in chosen]
    vout = [TransactionOutput(amount, address_to_scriptpubkey(to))]
    if change:
        vout.append(TransactionOutput(change, Script(change_script)))
    psbt = PSBT(Transaction(vin=vin, vout=vout))
    for scope, utxo in zip(psbt.inputs, chosen, strict=True):
        scope.witness_utxo = TransactionOutput(utxo.amount, Script(utxo.script_pubkey))
    return psbt, fee


def sign_psbt(signer: Signer, psbt: PSBT) -> Transaction:
    """Sign every input (all P2WPKH of the signer's key) and return the finalised transaction."""
    public = ec.PublicKey.parse(signer.public_key())
    own = p2wpkh(public).data
    tx = Transaction.parse(psbt.tx.serialize())
    for index, scope in enumerate(psbt.inputs):
        if scope.witness_utxo is None or scope.witness_utxo.script_pubkey.data != own:
            raise ValueError(f"input {index} is not the hot wallet's P2WPKH output")
        digest = psbt.sighash(index, SIGHASH.ALL)
        signature = signer.sign_digest(bytes(digest)).to_der() + bytes([SIGHASH.ALL])
        scope.partial_sigs[public] = signature
        scope.final_scriptwitness = Witness([signature, public.sec()])
        tx.vin[index].witness = scope.final_scriptwitness
    return tx


def sign_payment(
    signer: Signer, utxos: Sequence[Utxo], *, to: str, amount: int, fee_rate: int, network: str
) -> BitcoinPayment:
    """Build, sign and finalise a payment from the signer's hot address (blocking: run it in a thread)."""
    change = address_to_scriptpubkey(hot_address(signer, network)).data
    psbt, fee = build_psbt(utxos, to=to, amount=amount, fee_rate=fee_rate, change_script=change)
    tx = sign_psbt(signer, psbt)
    return BitcoinPayment(raw=tx.serialize(), txid=tx.txid().hex(), fee=fee, psbt=psbt.to_string())


def sign_replacement(signer: Signer, psbt: str, *, old_fee: int, fee_rate: int) -> BitcoinPayment:
    """Replace-by-fee (BIP125): the payment of `psbt` again, same inputs and the same payment output,
    paying max(`fee_rate`, the old fee + the incremental relay fee) out of the change; signed and
    finalised (blocking: run it in a thread). Without change enough, `CannotBumpError`.
    """
    original = PSBT.from_string(psbt)
    payment, *change = original.tx.vout  # build_psbt puts the payment first, the change (if any) after
    size = virtual_size(len(original.tx.vin), len(original.tx.vout))
    fee = max(fee_rate * size, old_fee + INCREMENTAL_RELAY_FEE * size)
    if not change or change[0].value < fee - old_fee:
        raise CannotBumpError(f"the change cannot add {fee - old_fee} sat of fee")
    remaining = change[0].value - (fee - old_fee)
    vout = [TransactionOutput(payment.value, payment.script_pubkey)]
    if remaining >= DUST:
        vout.append(TransactionOutput(remaining, change[0].script_pubkey))
    else:
        fee += remaining  # a dust change goes to the fee, as when the payment was first built
    vin = [TransactionInput(i.txid, i.vout, sequence=RBF_SEQUENCE) for i in original.tx.vin]
    replacement = PSBT(Transaction(vin=vin, vout=vout))
    for scope, spent in zip(replacement.inputs, original.inputs, strict=True):
        scope.witness_utxo = spent.witness_utxo
    tx = sign_psbt(signer, replacement)
    return BitcoinPayment(raw=tx.serialize(), txid=tx.txid().hex(), fee=fee, psbt=replacement.to_string())


def spent_outpoints(raw: bytes) -> set[tuple[str, int]]:
    """The outputs a raw transaction spends (to keep them out of the next coin selection)."""
    return {(vin.txid.hex(), vin.vout) for vin in Transaction.parse(raw).vin}
