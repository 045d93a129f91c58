"""Bitcoin sweeps: one consolidation PSBT spending every unspent output of the deposit addresses above
the sweep minimum to the hot address, and the offline check of its signed form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from embit.psbt import PSBT
from embit.script import address_to_scriptpubkey
from embit.transaction import Transaction

from wcx.wallet.chains.bitcoin import tx as btc_tx
from wcx.wallet.chains.bitcoin.node import Utxo
from wcx.wallet.sweeps.records import Sweep, SweepError, SweepInput, planned_sweep
from wcx.wallet.sweeps.states import SweepKind


def plan_consolidation(
    chain: str,
    asset: str,
    *,
    utxos: Sequence[Utxo],
    owners: Mapping[str, int],
    hot: str,
    minimum: int,
    fee_rate: int,
    now: datetime,
) -> Sweep | None:
    """One PSBT paying the outputs of every address (`owners`: address -> key index) holding at least
    `minimum` to `hot`, fee at `fee_rate` sat/vB; None when nothing is worth sweeping."""
    address_of = {address_to_scriptpubkey(address).data: address for address in owners}
    totals: dict[str, int] = {}
    for utxo in utxos:
        address = address_of.get(utxo.script_pubkey)
        if address is not None:
            totals[address] = totals.get(address, 0) + utxo.amount
    chosen = [u for u in utxos if totals.get(address_of.get(u.script_pubkey, ""), 0) >= minimum]
    if not chosen:
        return None
    amount = sum(u.amount for u in chosen) - fee_rate * btc_tx.estimated_vsize(len(chosen), 1)
    if amount < btc_tx.DUST_SATS:
        return None  # the outputs are worth less than spending them
    # Change goes to the hot address too: every output of a sweep pays the hot wallet.
    payment = btc_tx.build_payment(chosen, [(hot, amount)], hot, fee_rate)
    inputs = tuple(
        SweepInput(address_of[u.script_pubkey], owners[address_of[u.script_pubkey]], u.amount, u.txid, u.vout)
        for u in payment.spent
    )
    return planned_sweep(
        SweepKind.CONSOLIDATION,
        chain,
        asset,
        "",
        hot,
        sum(out.value for out in payment.psbt.tx.vout),
        fee=payment.fee,
        nonce=None,
        unsigned_tx=payment.psbt.to_string(),
        inputs=inputs,
        now=now,
    )


def check_signed(sweep: Sweep, raw: bytes) -> str:
    """The txid of `raw` if it is the planned PSBT's transaction with every input validly signed."""
    psbt = PSBT.from_string(sweep.unsigned_tx)
    try:
        tx = Transaction.parse(raw)
    except Exception:  # embit raises assorted errors on garbage
        raise SweepError("SIGNATURE_MISMATCH", f"sweep {sweep.id}: not a Bitcoin transaction") from None
    # A segwit txid leaves the witnesses out: equal txids mean the same inputs, outputs and lock time.
    if tx.txid() != psbt.tx.txid():
        raise SweepError(
            "SIGNATURE_MISMATCH", f"sweep {sweep.id}: the signed transaction is not the planned one"
        )
    if not btc_tx.verify(raw, btc_tx.spent_outputs(psbt)):
        raise SweepError("SIGNATURE_MISMATCH", f"sweep {sweep.id}: an input's signature does not verify")
    return str(tx.txid().hex())
