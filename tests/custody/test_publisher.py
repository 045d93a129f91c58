"""The reserves wallets file: entries, refusals, and assets no configured chain carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert

from wcx.custody.publisher import DEFAULT_WALLETS_FILE, PorPublisher, ReservesConfigError, load_wallets
from wcx.custody.reserves import ReserveWallet, Tier
from wcx.engine.state import EngineState
from wcx.store.schema import users
from wcx.testing.chain import FakeChainNode
from wcx.wallet.deposits.tables import deposit_addresses

from .conftest import Database, run

CHAINS = {"ETH": "ethereum", "USDT": "ethereum", "BTC": "bitcoin"}
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def test_the_shipped_file_lists_cold_wallets_on_their_chains() -> None:
    wallets = load_wallets(DEFAULT_WALLETS_FILE, CHAINS.__getitem__)
    assert {(w.asset, w.chain, w.tier) for w in wallets} == {
        ("ETH", "ethereum", Tier.COLD),
        ("USDT", "ethereum", Tier.COLD),
        ("BTC", "bitcoin", Tier.COLD),
    }


def test_assets_without_a_configured_chain_are_skipped() -> None:
    ethereum_only = {"ETH": "ethereum", "USDT": "ethereum"}
    wallets = load_wallets(DEFAULT_WALLETS_FILE, ethereum_only.__getitem__)
    assert {w.asset for w in wallets} == {"ETH", "USDT"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[wallets]]\nasset = "ETH"\ntier = "warm"\naddress = "0x1"\n', "tier \\(hot\\|cold\\)"),
        ('[[wallets]]\nasset = "ETH"\ntier = "hot"\n', "needs asset, tier"),
        ('[[wallets]]\nasset = "ETH"\ntier = "hot"\naddress = ""\n', "empty address"),
        ("[[wallets]\n", "reserves.toml"),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "reserves.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ReservesConfigError, match=message):
        load_wallets(path, CHAINS.__getitem__)


def test_deposit_addresses_count_as_reserves_until_swept(database: Database) -> None:
    chain = FakeChainNode("ethereum", ("ETH", "USDT"))
    cold = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"
    state = EngineState(assets={"ETH": 18, "USDT": 6})
    owed = 3 * 10**18
    for user, amount in ((1, 2 * 10**18), (2, 10**18)):
        state.account(user).balance("ETH").available = amount

    async def body() -> None:
        async with database.connect() as db:
            async with db.begin() as conn:
                for user in (1, 2, 3):
                    await conn.execute(insert(users).values(id=user, email=f"{user}@x.org", created_at=NOW))
                    await conn.execute(
                        insert(deposit_addresses).values(
                            chain="ethereum",
                            user_id=user,
                            address_index=user,
                            address=f"0x{user:040x}",
                            created_at=NOW,
                        )
                    )
            chain.pay(cold, 2 * 10**18)
            chain.pay(f"0x{1:040x}", 6 * 10**17)  # not swept yet
            chain.pay(f"0x{2:040x}", 4 * 10**17)
            chain.mine()
            publisher = PorPublisher(
                db,
                lambda: state,
                interval_s=0,
                wallets=[ReserveWallet("ETH", "ethereum", Tier.COLD, cold)],
                nodes={"ethereum": chain},
                deposit_assets={"ethereum": ["ETH", "USDT"]},
                clock=lambda: NOW,
            )
            report = (await publisher.publish_once()).reserves
            assert report is not None
            [eth] = [a for a in report.assets if a.asset == "ETH"]
            assert (eth.cold, eth.deposit, eth.reserves, eth.liabilities) == (2 * 10**18, 10**18, owed, owed)
            assert eth.covered and eth.to_json()["deposit"] == "1.000000000000000000"
            # one row per funded deposit address: user 3's empty one and the empty USDT balances are not rows
            assert sorted((r.tier, r.address) for r in report.rows if r.tier == "deposit") == [
                ("deposit", f"0x{1:040x}"),
                ("deposit", f"0x{2:040x}"),
            ]
            assert REGISTRY.get_sample_value("wallet_balance", {"asset": "ETH", "tier": "deposit"}) == 1.0

    run(body())
