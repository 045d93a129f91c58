"""GET /api/v1/proof-of-reserves and /proof-of-reserves/me over a running runtime."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from wcx.custody.por import ProofError, verify_proof
from wcx.custody.publisher import PorPublisher, hot_reserve_wallets
from wcx.custody.reserves import ReserveWallet, Tier
from wcx.runtime import Runtime
from wcx.testing.chain import FakeChainNode
from wcx.testing.signers import FakeSigner
from wcx.wallet.signers import ethereum_address
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute

from .conftest import User, balances

pytestmark = pytest.mark.anyio

COLD = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"
HOT = "0x000000000000000000000000000000000000dEaD"


async def test_nothing_published_yet(client: httpx.AsyncClient, alice: User) -> None:
    response = await client.get("/api/v1/proof-of-reserves")
    assert response.status_code == 404 and response.json()["error"]["code"] == "POR_NOT_PUBLISHED"
    response = await client.get("/api/v1/proof-of-reserves/me", headers=alice.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "POR_NOT_PUBLISHED"


async def test_users_get_verifiable_proofs_of_their_engine_balances(
    client: httpx.AsyncClient, runtime: Runtime, alice: User, bob: User
) -> None:
    order = {"symbol": "BTC-USDT", "side": "buy", "type": "limit", "price": "30000", "quantity": "0.5"}
    assert (await client.post("/api/v1/orders", json=order, headers=alice.headers)).status_code < 300
    node = FakeChainNode("ethereum", ("ETH", "USDT"))
    node.pay(COLD, 150_000 * 10**6, "USDT")
    node.pay(HOT, 60_000 * 10**6, "USDT")
    node.mine()
    publisher = PorPublisher(
        runtime.db,
        lambda: runtime.engine.state,
        interval_s=0,
        wallets=[
            ReserveWallet("USDT", "ethereum", Tier.COLD, COLD),
            ReserveWallet("USDT", "ethereum", Tier.HOT, HOT),
        ],
        nodes={"ethereum": node},
        clock=lambda: datetime(2026, 11, 24, 8, tzinfo=UTC),
    )
    publication = await publisher.publish_once()
    assert publication.reserves is not None
    usdt = next(a for a in publication.reserves.assets if a.asset == "USDT")
    assert (usdt.hot, usdt.cold) == (60_000 * 10**6, 150_000 * 10**6)
    assert usdt.liabilities == 200_000 * 10**6 and usdt.covered

    published = (await client.get("/api/v1/proof-of-reserves")).json()
    roots = {root["asset"]: root for root in published["roots"]}
    assert roots["USDT"]["total"] == "200000.000000" and roots["BTC"]["users"] == 2
    assert {(r["asset"], r["tier"]) for r in published["reserves"]} == {("USDT", "hot"), ("USDT", "cold")}

    for user in (alice, bob):
        response = await client.get("/api/v1/proof-of-reserves/me", headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["user_id"] == user.user_id and body["round"] == published["round"]
        engine = await balances(client, user)
        held = {asset for asset, row in engine.items() if Decimal(row["available"]) + Decimal(row["held"])}
        assert held <= {p["asset"] for p in body["proofs"]} <= set(engine)  # every asset they are owed
        for proof in body["proofs"]:
            checked = verify_proof(
                proof, user_id=user.user_id, published_root=roots[proof["asset"]]["root_hash"]
            )
            row = engine[proof["asset"]]
            expected = (Decimal(row["available"]) + Decimal(row["held"])).scaleb(proof["scale"])
            assert checked.balance == int(expected)  # the liability is what the engine holds for them
        with pytest.raises(ProofError):
            verify_proof(body["proofs"][0], user_id=bob.user_id if user is alice else alice.user_id)


async def test_my_proofs_need_authentication(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/proof-of-reserves/me")).status_code == 401


async def test_the_withdrawal_processors_hot_wallets_count_as_reserves(runtime: Runtime, alice: User) -> None:
    signer = FakeSigner(b"hot")
    node = FakeChainNode("ethereum", ("ETH", "USDT"))
    hot = HotWallet(
        "ethereum",
        node,
        signer,
        ethereum_address(signer.public_key()),
        1337,
        "ETH",
        {"ETH": TokenRoute("", 12), "USDT": TokenRoute("0x" + "11" * 20, 12)},
    )
    node.pay(hot.address, 40_000 * 10**6, "USDT")
    node.pay(COLD, 70_000 * 10**6, "USDT")
    node.mine()
    publisher = PorPublisher(
        runtime.db,
        lambda: runtime.engine.state,
        interval_s=0,
        wallets=[ReserveWallet("USDT", "ethereum", Tier.COLD, COLD)],
        nodes={"ethereum": node},
    )
    publisher.add_wallets(*hot_reserve_wallets([hot]))
    publisher.add_wallets(*hot_reserve_wallets([hot]))  # idempotent: each address counted once
    publication = await publisher.publish_once()
    assert publication.reserves is not None
    usdt = next(a for a in publication.reserves.assets if a.asset == "USDT")
    assert (usdt.hot, usdt.cold, usdt.liabilities) == (40_000 * 10**6, 70_000 * 10**6, 100_000 * 10**6)
    assert usdt.covered and usdt.to_json()["ratio"] == "1.100000"
    eth = next(a for a in publication.reserves.assets if a.asset == "ETH")
    assert (eth.hot, eth.liabilities) == (0, 0) and eth.ratio() is None
