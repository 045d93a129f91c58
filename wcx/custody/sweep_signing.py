"""Signing a sweep plan in the recovery ceremony: each deposit key is re-derived from the recovered cold
wallet at the user's index, must own exactly what the plan says it spends, and signs in memory
(`wcx.wallet.sweeps.signing`, shared with the automatic sweeper).

Only signed transactions leave: `wcx wallet sweep submit` checks them against the recorded plan again
before anything is broadcast.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from embit.psbt import PSBT

from wcx.custody.ceremony import Recovery
from wcx.custody.cold_transfer import ColdKeySigner, parse_transaction
from wcx.custody.errors import CustodyError
from wcx.wallet.sweeps import PLAN_FORMAT, signed_document
from wcx.wallet.sweeps.signing import (
    SignedSweep,
    SigningRefusedError,
    sign_consolidation,
    sign_ethereum_sweep,
)


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
            if hot_addresses and item["to"] not in hot_addresses:
                raise CustodyError(f"sweep {item['id']} pays {item['to']}, not a hot wallet")
            sweep = _sign(recovery, item)
        except SigningRefusedError as exc:
            raise CustodyError(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"malformed sweep in the plan: {exc!r}") from None
        signed.append((sweep.id, sweep.hash, sweep.raw))
    return signed_document(signed)


def _sign(recovery: Recovery, item: Mapping[str, Any]) -> SignedSweep:
    sweep_id, to = str(item["id"]), str(item["to"])
    if item["kind"] == "consolidation":
        try:
            psbt = PSBT.from_string(str(item["psbt"]).strip())
        except Exception as exc:  # embit raises assorted errors on malformed input
            raise CustodyError(f"sweep {sweep_id}: not a valid PSBT: {exc}") from exc
        inputs = [(str(i["address"]), i["key_index"]) for i in item["inputs"]]
        return sign_consolidation(
            lambda index: ColdKeySigner.bitcoin(recovery, index),
            sweep_id=sweep_id,
            psbt=psbt,
            inputs=inputs,
            to=to,
        )
    return sign_ethereum_sweep(
        lambda index: ColdKeySigner.ethereum(recovery, index),
        sweep_id=sweep_id,
        kind=str(item["kind"]),
        source=str(item["from"]),
        index=item["key_index"],
        tx=parse_transaction(item["transaction"]),
        to=to,
        amount=int(item["amount"]),
    )
