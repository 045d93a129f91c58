"""Deposit endpoints: per-user watch-only addresses and deposit history, scoped to the caller."""

from __future__ import annotations

import httpx
import pytest

from wcx.api.deposits import chains_of, set_chains
from wcx.runtime import Runtime
from wcx.testing.chain import FakeChainNode
from wcx.wallet.addresses import derive_address
from wcx.wallet.config import ChainsConfig
from wcx.wallet.deposits import DepositWatcher

from .conftest import sign_up

pytestmark = pytest.mark.anyio

TOKEN = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def with_token(runtime: Runtime, contract: str = TOKEN) -> ChainsConfig:
    """The shipped chains with a USDT contract on the local network."""
    config = chains_of(runtime)
    ethereum = config.chain("ethereum")
    usdt = ethereum.asset("USDT")
    assets = tuple(
        a if a.code != "USDT" else type(usdt)(**{**_fields(usdt), "contract": contract})
        for a in ethereum.assets
    )
    chains = tuple(
        c if c.name != "ethereum" else type(c)(**{**_fields(c), "assets": assets}) for c in config.chains
    )
    updated = ChainsConfig(chains)
    set_chains(runtime, updated)
    return updated


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


async def test_each_user_gets_a_stable_derived_address_per_chain(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice, bob = await sign_up(client, "alice@example.com"), await sign_up(client, "bob@example.com")
    config = chains_of(runtime)
    eth = await client.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=alice.headers)
    assert eth.status_code == 200, eth.text
    body = eth.json()
    ethereum = config.chain("ethereum")
    assert body == {
        "asset": "ETH",
        "chain": "ethereum",
        "network": "local",
        "address": derive_address("ethereum", "local", ethereum.xpub, alice.user_id),
        "confirmations": ethereum.asset("ETH").confirmations,
        "contract": None,
    }
    again = await client.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=alice.headers)
    assert again.json()["address"] == body["address"]
    btc = (await client.get("/api/v1/deposit-address", params={"asset": "BTC"}, headers=alice.headers)).json()
    assert btc["address"].startswith("bcrt1q") and btc["network"] == "regtest"
    other = (await client.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=bob.headers)).json()
    assert other["address"] != body["address"]


async def test_token_shares_the_chain_address(client: httpx.AsyncClient, runtime: Runtime) -> None:
    alice = await sign_up(client, "alice@example.com")
    unavailable = await client.get("/api/v1/deposit-address", params={"asset": "USDT"}, headers=alice.headers)
    assert unavailable.status_code == 409 and unavailable.json()["error"]["code"] == "DEPOSITS_UNAVAILABLE"
    with_token(runtime)
    usdt = (
        await client.get("/api/v1/deposit-address", params={"asset": "USDT"}, headers=alice.headers)
    ).json()
    eth = (await client.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=alice.headers)).json()
    assert usdt["address"] == eth["address"] and usdt["contract"] == TOKEN


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"asset": "DOGE"}, 404, "UNKNOWN_ASSET"),
        ({"asset": "eth"}, 422, "INVALID_REQUEST"),
        ({}, 422, "INVALID_REQUEST"),
        ({"asset": "X" * 17}, 422, "INVALID_REQUEST"),
    ],
)
async def test_bad_asset_is_a_clear_4xx(
    client: httpx.AsyncClient, params: dict[str, str], status: int, code: str
) -> None:
    alice = await sign_up(client, "alice@example.com")
    response = await client.get("/api/v1/deposit-address", params=params, headers=alice.headers)
    assert response.status_code == status and response.json()["error"]["code"] == code


async def test_endpoints_need_authentication(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/deposit-address?asset=ETH", "/api/v1/deposits"):
        assert (await client.get(path)).status_code == 401


async def test_history_is_the_callers_own_with_decimal_amounts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice, bob = await sign_up(client, "alice@example.com"), await sign_up(client, "bob@example.com")
    config = with_token(runtime)
    addresses = {}
    for user in (alice, bob):
        response = await client.get("/api/v1/deposit-address", params={"asset": "ETH"}, headers=user.headers)
        addresses[user.user_id] = response.json()["address"]
    ethereum = config.chain("ethereum")
    node = FakeChainNode("ethereum", ("ETH", "USDT"))
    watcher = DepositWatcher(node, ethereum, runtime.db, runtime.submit)
    await watcher.poll()
    node.pay(addresses[alice.user_id], 1_500_000_000_000_000_000, "ETH")
    node.pay(addresses[alice.user_id], 2_500_000, "USDT")
    node.pay(addresses[bob.user_id], 1, "ETH")
    node.mine()
    await watcher.poll()
    mine = (await client.get("/api/v1/deposits", headers=alice.headers)).json()
    assert [(d["asset"], d["amount"], d["status"], d["confirmations"]) for d in mine] == [
        ("USDT", "2.500000", "pending", 1),
        ("ETH", "1.500000000000000000", "pending", 1),
    ]
    assert {d["address"] for d in mine} == {addresses[alice.user_id]}
    only_eth = (await client.get("/api/v1/deposits", params={"asset": "ETH"}, headers=alice.headers)).json()
    assert [d["asset"] for d in only_eth] == ["ETH"]
    older = (
        await client.get("/api/v1/deposits", params={"before": mine[0]["id"]}, headers=alice.headers)
    ).json()
    assert [d["id"] for d in older] == [mine[1]["id"]]
    node.mine(ethereum.max_confirmations)
    await watcher.poll()
    credited = (await client.get("/api/v1/deposits", headers=alice.headers)).json()
    assert {d["status"] for d in credited} == {"credited"}
    balances = (await client.get("/api/v1/balances", headers=alice.headers)).json()
    assert {b["asset"]: b["available"] for b in balances if b["asset"] in {"ETH", "USDT"}} == {
        "ETH": "1.500000000000000000",
        "USDT": "2.500000",
    }
    bad = await client.get("/api/v1/deposits", params={"asset": "DOGE"}, headers=alice.headers)
    assert bad.status_code == 404
