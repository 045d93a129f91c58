"""The reserves wallets file: entries, refusals, and assets no configured chain carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from wcx.custody.publisher import DEFAULT_WALLETS_FILE, ReservesConfigError, load_wallets
from wcx.custody.reserves import Tier

CHAINS = {"ETH": "ethereum", "USDT": "ethereum", "BTC": "bitcoin"}


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
