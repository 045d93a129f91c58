"""The files that travel to and from the cold ceremony: the sweep plan (unsigned, public) and the
signed sweeps. Neither ever holds a key; both are checked against the database on the way back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from wcx.wallet.sweeps.records import Sweep, SweepError
from wcx.wallet.sweeps.states import SweepKind

PLAN_FORMAT = "wcx-sweep-plan/1"
SIGNED_FORMAT = "wcx-sweep-signatures/1"


def _item(sweep: Sweep) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": sweep.id,
        "chain": sweep.chain,
        "asset": sweep.asset,
        "kind": sweep.kind.value,
        "to": sweep.to_address,
        "amount": str(sweep.amount),
        "fee": str(sweep.fee),
    }
    if sweep.kind is SweepKind.CONSOLIDATION:
        item["psbt"] = sweep.unsigned_tx
        item["inputs"] = [
            {
                "address": i.address,
                "key_index": i.key_index,
                "txid": i.txid,
                "vout": i.vout,
                "amount": str(i.amount),
            }
            for i in sweep.inputs
        ]
    else:
        item["from"] = sweep.from_address
        item["key_index"] = sweep.inputs[0].key_index
        item["transaction"] = json.loads(sweep.unsigned_tx)
    return item


def plan_document(sweeps: Sequence[Sweep], *, now: datetime) -> dict[str, Any]:
    """The plan the ceremony signs: every given sweep of a deposit key (top-ups are the HSM's)."""
    items = [_item(s) for s in sweeps if s.kind is not SweepKind.GAS_TOPUP]
    return {"format": PLAN_FORMAT, "created_at": now.isoformat(), "sweeps": items}


def signed_document(signed: Sequence[tuple[str, str, bytes]]) -> dict[str, Any]:
    """The ceremony's answer: (sweep id, transaction hash, raw transaction) per signed sweep."""
    return {
        "format": SIGNED_FORMAT,
        "sweeps": [{"id": sweep_id, "hash": tx_hash, "raw": raw.hex()} for sweep_id, tx_hash, raw in signed],
    }


def parse_signed(document: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(sweep id, raw transaction) pairs of a signed-sweeps document; SweepError if it is not one."""
    if not isinstance(document, Mapping) or document.get("format") != SIGNED_FORMAT:
        raise SweepError("INVALID_DOCUMENT", f"not a signed-sweeps document ({SIGNED_FORMAT})")
    items = document.get("sweeps")
    if not isinstance(items, list) or not items:
        raise SweepError("INVALID_DOCUMENT", "the document lists no signed sweeps")
    parsed = []
    for item in items:
        try:
            raw = item["raw"]
            parsed.append((str(item["id"]), bytes.fromhex(raw[2:] if raw.startswith("0x") else raw)))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise SweepError(
                "INVALID_DOCUMENT", f"a signed sweep needs an id and hex raw bytes: {item!r}"
            ) from None
    if len({sweep_id for sweep_id, _ in parsed}) != len(parsed):
        raise SweepError("INVALID_DOCUMENT", "a sweep is listed twice")
    return parsed
