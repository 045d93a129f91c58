"""Signing a sweep plan in the recovery ceremony: each deposit key is re-derived from the recovered cold
wallet at the user's index, must own exactly what the plan says it spends, and signs in memory.

Only signed transactions leave: `wcx wallet sweep submit` checks them against the recorded plan again
before anything is broadcast.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from embit.ec import PublicKey
from embit.networks import NETWORKS
from embit.psbt import PSBT
from embit.script import address_to_scriptpubkey, p2wpkh

from wcx.custody.ceremony import Recovery
from wcx.custody.cold_transfer import ColdKeySigner, finalize_verified, parse_transaction
from wcx.custody.errors import CustodyError
from wcx.custody.keys import Network
from wcx.wallet.addresses import MAX_INDEX
from wcx.wallet.chains.bitcoin.tx import sign_payment
from wcx.wallet.chains.ethereum.codec import transfer_call
from wcx.wallet.signers import ethereum_address, sign_ethereum_transaction
from wcx.wallet.sweeps import PLAN_FORMAT, signed_document

_EMBIT_NETWORK = {Network.MAINNET: "main", Network.TESTNET: "test", Network.REGTEST: "regtest"}


def sign_sweeps(
    recovery: Recovery, plan: Mapping[str, Any], *, hot_addresses: Collection[str] = ()
) -> dict[str, Any]:
    """The signed-sweeps document for every sweep in `plan`; CustodyError (nothing signed) on any mismatch.

    With `hot_addresses`, a sweep paying anything else is refused.
    """
    if not isinstance(plan, Mapping) or plan.get("format") != PLAN_FORMAT:
        raise CustodyError(f"not a sweep plan ({PLAN_FORMAT})")
    items = plan.get("sweeps")
    if not isinstance(items, list) or not items:
        raise CustodyError("the plan lists no sweeps")
    signed = []
    for item in items:
        try:
            sweep_id, to, amount = str(item["id"]), str(item["to"]), int(item["amount"])
            if hot_addresses and to not in hot_addresses:
                raise CustodyError(f"sweep {sweep_id} pays {to}, not a hot wallet")
            if item["kind"] == "consolidation":
                signed.append(_sign_bitcoin(recovery, sweep_id, item, to))
            else:
                signed.append(_sign_ethereum(recovery, sweep_id, item, to, amount))
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"malformed sweep in the plan: {exc!r}") from None
    return signed_document(signed)


def _index(value: Any) -> int:
    index = int(value)
    if not 0 <= index <= MAX_INDEX or isinstance(value, bool):
        raise CustodyError(f"key index {value!r} is out of range")
    return index


def _sign_ethereum(
    recovery: Recovery, sweep_id: str, item: Mapping[str, Any], to: str, amount: int
) -> tuple[str, str, bytes]:
    index = _index(item["key_index"])
    signer = ColdKeySigner.ethereum(recovery, index)
    derived = ethereum_address(signer.public_key())
    if item["from"] != derived:
        raise CustodyError(
            f"sweep {sweep_id} spends {item['from']}, but the deposit key at index {index} is {derived}"
        )
    tx = parse_transaction(item["transaction"])
    if item["kind"] == "token":
        pays = tx.get("data") == transfer_call(to, amount) and tx["value"] == 0
    else:
        pays = tx["to"] == to and tx["value"] == amount and not tx.get("data")
    if not pays:
        raise CustodyError(
            f"sweep {sweep_id}: the transaction does not pay {amount} to {to} as the plan says"
        )
    signed = sign_ethereum_transaction(signer, tx)
    return sweep_id, "0x" + signed.tx_hash.hex(), signed.raw


def _sign_bitcoin(
    recovery: Recovery, sweep_id: str, item: Mapping[str, Any], to: str
) -> tuple[str, str, bytes]:
    try:
        psbt = PSBT.from_string(str(item["psbt"]).strip())
    except Exception as exc:  # embit raises assorted errors on malformed input
        raise CustodyError(f"sweep {sweep_id}: not a valid PSBT: {exc}") from exc
    inputs = item["inputs"]
    if len(inputs) != len(psbt.inputs) or any(scope.witness_utxo is None for scope in psbt.inputs):
        raise CustodyError(f"sweep {sweep_id}: the plan's inputs do not match the PSBT's")
    hot = address_to_scriptpubkey(to).data
    if any(out.script_pubkey.data != hot for out in psbt.tx.vout):
        raise CustodyError(f"sweep {sweep_id}: the PSBT pays an output other than {to}")
    network = NETWORKS[_EMBIT_NETWORK[recovery.keys.network]]
    signers: dict[int, ColdKeySigner] = {}
    for position, (planned, scope) in enumerate(zip(inputs, psbt.inputs, strict=True)):
        index = _index(planned["key_index"])
        signer = signers.setdefault(index, ColdKeySigner.bitcoin(recovery, index))
        script = p2wpkh(PublicKey.parse(signer.public_key()))
        spends = scope.witness_utxo.script_pubkey.data
        if spends != script.data or address_to_scriptpubkey(str(planned["address"])).data != script.data:
            raise CustodyError(
                f"sweep {sweep_id} input {position} spends {planned['address']}, but the deposit key at "
                f"index {index} is {script.address(network)}"
            )
    signed_inputs = sum(sign_payment(psbt, signer) for signer in signers.values())
    signed = finalize_verified(psbt, signed_inputs)
    return sweep_id, signed.txid, signed.raw
