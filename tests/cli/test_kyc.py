"""`wcx kyc rescreen` and `wcx kyc tiers` through typer's runner (settings from the environment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wcx.cli import app

LISTS = Path(__file__).resolve().parents[1] / "kyc" / "data"


def test_rescreen_loads_lists_and_reports_changes_only_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdn = tmp_path / "sdn.csv"
    shutil.copy(LISTS / "sdn_test.csv", sdn)
    monkeypatch.setenv("WCX_ENV", "development")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("KYC_SANCTIONS_FILES", f"sdn:{sdn},{LISTS / 'pep_test.csv'}")
    runner = CliRunner()
    first = runner.invoke(app, ["kyc", "rescreen"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"changed": ["sdn", "pep_test"], "reopened": 0}
    again = runner.invoke(app, ["kyc", "rescreen"])
    assert json.loads(again.stdout) == {"changed": [], "reopened": 0}
    sdn.write_text(
        sdn.read_text(encoding="utf-8")
        + sdn.read_text(encoding="utf-8").splitlines()[0].replace("101", "199")
        + "\n"
    )
    changed = runner.invoke(app, ["kyc", "rescreen"])
    assert json.loads(changed.stdout) == {"changed": ["sdn"], "reopened": 0}
    rotated = runner.invoke(app, ["kyc", "rotate-key"])
    assert json.loads(rotated.stdout) == {"documents": 0, "submissions": 0}
    monkeypatch.setenv("KYC_SANCTIONS_FILES", str(tmp_path / "missing.csv"))
    missing = runner.invoke(app, ["kyc", "rescreen"])
    assert missing.exit_code != 0 and "missing.csv" in missing.output


def test_tiers_prints_the_configured_limits(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["kyc", "tiers"])
    assert result.exit_code == 0, result.output
    tiers = json.loads(result.stdout)
    assert [t["tier"] for t in tiers] == [0, 1, 2, 3]
    assert tiers[1]["withdrawal_daily"] == "2000.000000" and tiers[0]["trading"] is False


def test_serve_refuses_the_development_kyc_key_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WCX_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "j" * 40)
    monkeypatch.setenv("REFRESH_SECRET", "r" * 40)
    monkeypatch.delenv("KYC_ENCRYPTION_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "0", "--admin-port", "0"])
    assert result.exit_code == 2
    assert "KYC_ENCRYPTION_KEY" in result.output
