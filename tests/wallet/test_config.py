"""chains.toml: the shipped file loads, bad files fail loudly, environment overrides win."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from wcx.config.markets import load_reference_data
from wcx.wallet.config import (
    DEFAULT_CHAINS_FILE,
    ChainConfigError,
    ChainKind,
    Network,
    WalletSettings,
    load_chains,
    parse_chains,
)

TOKEN = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def shipped() -> dict[str, Any]:
    """The shipped chains document."""
    with DEFAULT_CHAINS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def test_shipped_file_describes_eth_usdt_and_btc() -> None:
    config = load_chains(WalletSettings())
    eth, btc = config.chain("ethereum"), config.chain("bitcoin")
    assert (eth.kind, eth.network, btc.kind, btc.network) == (
        ChainKind.ETHEREUM,
        Network.LOCAL,
        ChainKind.BITCOIN,
        Network.REGTEST,
    )
    assert [(a.code, a.decimals, a.token) for a in eth.assets] == [("ETH", 18, False), ("USDT", 6, True)]
    assert [(a.code, a.decimals) for a in btc.assets] == [("BTC", 8)]
    assert config.locate("USDT")[0] is eth
    assert not eth.rpc_url and not btc.rpc_url  # no node configured: no watcher by default
    assert not eth.asset("USDT").available  # no local contract until one is deployed/configured
    scales = {a.code: a.scale for a in load_reference_data().assets}
    config.check_scales(scales)
    with pytest.raises(ChainConfigError, match="engine's scale"):
        config.check_scales({**scales, "USDT": 2})


def test_mainnet_picks_the_mainnet_contract() -> None:
    doc = shipped()
    doc["chains"][0]["network"] = "mainnet"
    doc["chains"][0]["xpub"] = (
        "xpub6Cp8WQWM9bwbNi7jnYgSixAMuh8189KNLRQpQiNGTysJ1w2UjZS7aw5Q4qUAdP2wJBXkjVFsHMLDeExq9pbBMeFKVNTb4WkjGGH3QMNhLyk"
    )
    del doc["chains"][1]
    usdt = parse_chains(doc, development=False).chain("ethereum").asset("USDT")
    assert usdt.contract == TOKEN and usdt.available


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    settings = WalletSettings(
        eth_rpc_url="http://127.0.0.1:8545",
        btc_rpc_url="http://user:pass@127.0.0.1:18443",
        usdt_contract=TOKEN.lower(),
    )
    config = parse_chains(shipped(), settings)
    assert config.chain("ethereum").rpc_url == "http://127.0.0.1:8545"
    assert config.chain("bitcoin").rpc_url == "http://user:pass@127.0.0.1:18443"
    assert config.chain("ethereum").asset("USDT").contract == TOKEN  # checksummed
    path = tmp_path / "chains.toml"
    path.write_text('[[chains]]\nname = "ethereum"\nnetwork = "local"\n', encoding="utf-8")
    with pytest.raises(ChainConfigError, match="at least one asset"):
        load_chains(WalletSettings(chains_file=path))


def test_public_test_keys_are_refused_outside_development() -> None:
    with pytest.raises(ChainConfigError, match="public test mnemonic"):
        parse_chains(shipped(), development=False)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("network",), "moonnet", "moonnet"),
        (("xpub",), "xpub-nonsense", "xpub"),
        (("scan_window",), 0, "scan_window"),
        (("assets", 0, "confirmations"), 0, "confirmation"),
        (("assets", 1, "contracts"), {"local": "0xdAC17F958D2ee523a2206206994597C13D831ec8"}, "checksum"),
        (("assets", 1, "contracts"), None, "exactly one native"),
    ],
)
def test_bad_entries_are_named(path: tuple[Any, ...], value: Any, message: str) -> None:
    doc = shipped()
    target = doc["chains"][0]
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    with pytest.raises(ChainConfigError, match=message):
        parse_chains(doc)


def test_an_asset_on_two_chains_is_refused() -> None:
    doc = shipped()
    doc["chains"][1]["assets"][0]["code"] = "ETH"
    with pytest.raises(ChainConfigError, match="twice"):
        parse_chains(doc)


def test_bitcoin_key_must_match_the_network() -> None:
    doc = shipped()
    doc["chains"][1]["network"] = "mainnet"  # a vpub is a testnet/regtest key
    with pytest.raises(ChainConfigError, match="bitcoin: xpub"):
        parse_chains(doc)
