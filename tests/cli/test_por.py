"""`wcx por verify | publish | reserves` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from wcx.cli import app
from wcx.custody.por import build_trees
from wcx.testing.chain import FakeChainNode

# The development cold addresses of config/reserves.toml.
COLD_ETH = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"
COLD_BTC = "bcrt1q6rhpng9evdsfnn833a4f4vej0asu6dk5srld6x"


@pytest.fixture
def proof_file(tmp_path: Path) -> Path:
    """A /proof-of-reserves/me style document for user 2 with proofs in two assets."""
    trees = build_trees({"BTC": {1: 10, 2: 25, 3: 5}, "USDT": {2: 7_000_000, 4: 1}})
    document = {
        "round": 3,
        "user_id": 2,
        "proofs": [tree.proof(2, asset=asset, scale=8, round_id=3) for asset, tree in sorted(trees.items())],
    }
    path = tmp_path / "me.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_verify_accepts_genuine_proofs(proof_file: Path) -> None:
    result = CliRunner().invoke(app, ["por", "verify", str(proof_file)])
    assert result.exit_code == 0, result.output
    assert "OK   BTC round 3: balance 0.00000025 included in total 0.00000040" in result.output
    assert "OK   USDT" in result.output


def test_verify_rejects_a_tampered_sum_or_another_user(proof_file: Path) -> None:
    document = json.loads(proof_file.read_text(encoding="utf-8"))
    document["proofs"][0]["path"][0]["sum"] = "0"
    proof_file.write_text(json.dumps(document), encoding="utf-8")
    result = CliRunner().invoke(app, ["por", "verify", str(proof_file)])
    assert result.exit_code == 1
    assert "FAIL BTC: the path does not lead to the root hash" in result.output
    assert "OK   USDT" in result.output
    other = CliRunner().invoke(app, ["por", "verify", str(proof_file), "--user-id", "3"])
    assert other.exit_code == 1 and "not keyed by this user id" in other.output


def test_verify_an_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["por", "verify", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_publish_offline_then_reserves_need_a_node(tmp_path: Path) -> None:
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "WCX_ENV": "development",
        "DATABASE_URL": "",
        "POR_INTERVAL_S": "0",
    }
    published = CliRunner().invoke(app, ["por", "publish"], env=env)
    assert published.exit_code == 0, published.output
    assert "round 1 at engine seq" in published.output
    assert "BTC: total 0.00000000 over 0 users" in published.output
    reserves = CliRunner().invoke(app, ["por", "reserves"], env={**env, "ETH_RPC_URL": "", "BTC_RPC_URL": ""})
    assert reserves.exit_code == 2
    assert "no node configured for chain(s) bitcoin, ethereum" in reserves.stderr


def test_reserves_read_each_wallet_through_its_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "DATA_DIR": str(tmp_path / "data"),
        "WCX_ENV": "development",
        "DATABASE_URL": "",
        "POR_INTERVAL_S": "0",
    }
    assert CliRunner().invoke(app, ["por", "publish"], env=env).exit_code == 0
    ethereum, bitcoin = FakeChainNode("ethereum", ("ETH", "USDT")), FakeChainNode("bitcoin", ("BTC",))
    ethereum.pay(COLD_ETH, 3 * 10**18)
    bitcoin.pay(COLD_BTC, 5 * 10**7)
    ethereum.mine()
    bitcoin.mine()
    monkeypatch.setattr("wcx.cli.por._nodes", lambda development: {"ethereum": ethereum, "bitcoin": bitcoin})
    result = CliRunner().invoke(app, ["por", "reserves"], env=env)
    assert result.exit_code == 0, result.output  # nothing is owed yet, so everything is covered
    report = {line["asset"]: line for line in json.loads(result.stdout)["assets"]}
    assert report["ETH"]["cold"] == "3.000000000000000000" and report["ETH"]["covered"]
    assert report["BTC"]["reserves"] == "0.50000000" and report["BTC"]["liabilities"] == "0.00000000"
    assert REGISTRY.get_sample_value("wallet_balance", {"asset": "BTC", "tier": "cold"}) == 0.5
