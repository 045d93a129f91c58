"""Signing a sweep plan with deposit keys re-derived from the recovered cold wallet: what is refused.

The full path (plan, ceremony, submit, mined) runs on py-evm and FakeBitcoind in tests/wallet/sweeps.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import to_checksum_address

from wcx.custody.ceremony import Recovery
from wcx.custody.errors import CustodyError
from wcx.custody.sweep_signing import sign_sweeps
from wcx.wallet.addresses import derive_address
from wcx.wallet.chains.ethereum import tx as eth_tx
from wcx.wallet.chains.ethereum.codec import hex0x, transfer_call
from wcx.wallet.sweeps import PLAN_FORMAT, SIGNED_FORMAT

from .conftest import Ceremony

HOT = "0x000000000000000000000000000000000000dEaD"
TOKEN = to_checksum_address("0x" + "fa" * 20)


def deposit_address(ceremony_run: Ceremony, index: int) -> str:
    """The deposit address the servers derive watch-only for user `index`."""
    return derive_address("ethereum", "local", ceremony_run.result.record.keys.eth_xpub, index)


def plan(*items: dict[str, Any]) -> dict[str, Any]:
    """A plan document as `wcx wallet sweep plan` writes it."""
    return {"format": PLAN_FORMAT, "created_at": "2026-11-24T00:00:00+00:00", "sweeps": list(items)}


def native(source: str, index: int, **overrides: Any) -> dict[str, Any]:
    """An ETH sweep of `source` (key index `index`) to HOT."""
    item: dict[str, Any] = {
        "id": f"sw_{index}",
        "chain": "ethereum",
        "asset": "ETH",
        "kind": "native",
        "from": source,
        "key_index": index,
        "to": HOT,
        "amount": "990000000000000000",
        "fee": "630000000000000",
        "transaction": {
            "type": 2,
            "chainId": 1,
            "nonce": 0,
            "gas": 21000,
            "to": HOT,
            "value": "990000000000000000",
            "maxFeePerGas": "30000000000",
            "maxPriorityFeePerGas": "30000000000",
            "data": "0x",
            "accessList": [],
        },
    }
    item.update(overrides)
    return item


def test_each_sweep_is_signed_by_the_deposit_key_at_its_index(
    ceremony_run: Ceremony, recovered: Recovery
) -> None:
    seven, nine = deposit_address(ceremony_run, 7), deposit_address(ceremony_run, 9)
    token = native(nine, 9, id="sw_token", kind="token", asset="USDT", amount="5000000")
    token["transaction"] = {
        **token["transaction"],
        "to": TOKEN,
        "value": "0",
        "data": hex0x(transfer_call(HOT, 5_000_000)),
        "gas": 78000,
    }
    signed = sign_sweeps(recovered, plan(native(seven, 7), token), hot_addresses=[HOT])
    assert signed["format"] == SIGNED_FORMAT
    first, second = signed["sweeps"]
    assert (first["id"], second["id"]) == ("sw_7", "sw_token")
    assert eth_tx.sender_of(bytes.fromhex(first["raw"])) == seven
    assert eth_tx.sender_of(bytes.fromhex(second["raw"])) == nine
    assert eth_tx.decode(bytes.fromhex(second["raw"]))["to"] == TOKEN
    assert "seed" not in str(signed) and recovered.seed.hex() not in str(signed)


def test_a_from_address_that_is_not_the_derived_key_is_refused(
    ceremony_run: Ceremony, recovered: Recovery
) -> None:
    seven = deposit_address(ceremony_run, 7)
    with pytest.raises(CustodyError, match="the deposit key at index 8 is"):
        sign_sweeps(recovered, plan(native(seven, 8)))  # user 7's address with user 8's index


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": "0x000000000000000000000000000000000000bEEF"}, "not a hot wallet"),
        ({"amount": "1"}, "does not pay 1"),
        ({"key_index": -1}, "out of range"),
        ({"transaction": {"to": HOT}}, "lacks"),
        ({"key_index": None}, "out of range"),
        ({"amount": "lots"}, "malformed sweep"),
    ],
)
def test_a_sweep_paying_anything_else_is_refused(
    ceremony_run: Ceremony, recovered: Recovery, change: dict[str, Any], message: str
) -> None:
    item = native(deposit_address(ceremony_run, 3), 3, **change)
    with pytest.raises(CustodyError, match=message):
        sign_sweeps(recovered, plan(item), hot_addresses=[HOT])


def test_not_a_plan_is_refused(recovered: Recovery) -> None:
    with pytest.raises(CustodyError, match="not a sweep plan"):
        sign_sweeps(recovered, {"format": "something else", "sweeps": []})
    with pytest.raises(CustodyError, match="no sweeps"):
        sign_sweeps(recovered, plan())
