"""`wcx por verify | publish | reserves` through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wcx.cli import app
from wcx.custody.por import build_trees


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
