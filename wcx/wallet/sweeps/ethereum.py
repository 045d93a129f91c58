"""Ethereum sweeps: ETH to the hot wallet down to zero, ERC-20 `transfer`s with a gas top-up from the hot
wallet, and the JSON form of their unsigned transactions (what the ceremony signs and `submit` checks)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from eth_utils import keccak, to_checksum_address

from wcx.wallet.chains.ethereum import tx as eth_tx
from wcx.wallet.chains.ethereum.codec import hex0x
from wcx.wallet.chains.port import ChainNode, FeeEstimate
from wcx.wallet.config import ChainSpec
from wcx.wallet.sweeps.records import Sweep, SweepError, SweepInput, planned_sweep
from wcx.wallet.sweeps.states import SweepKind
from wcx.wallet.withdrawals.ethereum import Payment, max_gas_cost, payment_gas, payment_transaction

_QUANTITIES = ("value", "maxFeePerGas", "maxPriorityFeePerGas")
"""Wei amounts are decimal strings in JSON (beyond 2^53 many JSON readers lose digits)."""
_INTEGERS = ("type", "chainId", "nonce", "gas")


def encode_transaction(tx: Mapping[str, Any]) -> dict[str, Any]:
    """An unsigned transaction dict as JSON-safe fields (the plan file and `unsigned_tx`)."""
    document: dict[str, Any] = {name: int(tx[name]) for name in _INTEGERS}
    document.update({name: str(int(tx[name])) for name in _QUANTITIES})
    document.update(to=to_checksum_address(tx["to"]), data=hex0x(bytes(tx.get("data") or b"")), accessList=[])
    return document


def decode_transaction(text: str) -> dict[str, Any]:
    """The transaction dict stored by `encode_transaction` (as eth-account signs and `tx.verify` compares)."""
    document = json.loads(text)
    fields: dict[str, Any] = {name: int(document[name]) for name in (*_INTEGERS, *_QUANTITIES)}
    fields.update(to=document["to"], data=bytes.fromhex(document["data"][2:]), accessList=[])
    return fields


def check_signed(sweep: Sweep, raw: bytes) -> str:
    """The hash of `raw` if it is exactly the planned transaction signed by its deposit key."""
    if not eth_tx.verify(raw, decode_transaction(sweep.unsigned_tx), sweep.from_address):
        raise SweepError(
            "SIGNATURE_MISMATCH",
            f"sweep {sweep.id}: the signed transaction is not the planned one from {sweep.from_address}",
        )
    return hex0x(keccak(raw))


def _sweep(
    kind: SweepKind,
    spec: ChainSpec,
    asset: str,
    source: str,
    to: str,
    amount: int,
    tx: Mapping[str, Any] | None,
    inputs: tuple[SweepInput, ...],
    now: datetime,
) -> Sweep:
    """A planned sweep of `tx` (None: a top-up, built when the hot wallet signs it)."""
    return planned_sweep(
        kind,
        spec.name,
        asset,
        source,
        to,
        amount,
        fee=0 if tx is None else max_gas_cost(dict(tx)),
        nonce=None if tx is None else int(tx["nonce"]),
        unsigned_tx="" if tx is None else json.dumps(encode_transaction(tx)),
        inputs=inputs,
        now=now,
    )


async def plan_address(
    spec: ChainSpec,
    node: ChainNode,
    *,
    chain_id: int,
    hot: str,
    minimums: Mapping[str, int],
    fee: FeeEstimate,
    address: str,
    key_index: int,
    now: datetime,
) -> list[Sweep]:
    """The sweeps of one deposit address: its tokens (plus a gas top-up if needed), else its ETH.

    Tokens go first because they need the address's ETH for gas; the ETH left afterwards (unused gas
    included) is swept by a later round, once no sweep of the address is in flight.
    """
    native = next(a.code for a in spec.assets if not a.token)
    tokens: list[Sweep] = []
    nonce: int | None = None
    for asset in spec.assets:
        if not asset.token or not asset.contract or asset.code not in minimums:
            continue
        balance = await node.balance(address, asset.code)
        if balance < minimums[asset.code]:
            continue
        nonce = await node.nonce(address) if nonce is None else nonce
        payment = Payment(hot, balance, asset.contract)
        tx = payment_transaction(
            payment,
            chain_id=chain_id,
            nonce=nonce + len(tokens),
            fee=fee,
            gas=await payment_gas(node, address, payment),
        )
        spent = (SweepInput(address, key_index, balance),)
        tokens.append(_sweep(SweepKind.TOKEN, spec, asset.code, address, hot, balance, tx, spent, now))
    held = await node.balance(address, native)
    if tokens:
        short = sum(s.fee for s in tokens) - held
        if short <= 0:
            return tokens
        if hot.lower() not in {a.lower() for a in spec.internal_addresses}:
            # Otherwise the deposit watcher would credit the top-up to the address's owner.
            raise SweepError(
                "HOT_NOT_INTERNAL",
                f"{spec.name}: list the hot wallet {hot} in internal_addresses before sweeping tokens",
            )
        topup = _sweep(SweepKind.GAS_TOPUP, spec, native, hot, address, short, None, (), now)
        return [topup, *(replace(s, depends_on=topup.id) for s in tokens)]
    if native not in minimums or held < minimums[native]:
        return []
    gas = await node.estimate_gas(address, hot)
    # Priority fee = max fee: the effective gas price is then exactly the max fee, so value + gas
    # cost is the whole balance and the address is left at zero (never a stranded remainder).
    exact = FeeEstimate(fee.rate, tip=fee.rate)
    value = held - gas * exact.rate
    if value <= 0:
        return []
    tx = payment_transaction(
        Payment(hot, value), chain_id=chain_id, nonce=await node.nonce(address), fee=exact, gas=gas
    )
    spent = (SweepInput(address, key_index, held),)
    return [_sweep(SweepKind.NATIVE, spec, native, address, hot, value, tx, spent, now)]
