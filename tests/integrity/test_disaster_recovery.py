"""Disaster-recovery drill on PostgreSQL with the real server and the operator scripts.

Trade (the demo's simulated traders), back up while the exchange runs, stop it, drop the database
and the journal, restore, and `wcx verify` passes with the state hash of the backup's seq; the
restored exchange starts and serves. Then a point-in-time restore: the journal is cut at a seq, the
projection rebuilt, and the state hash equals a replay of the original journal to that seq.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from wcx.engine import Engine
from wcx.journal import read_records
from wcx.testing.server import Server
from wcx.testing.services import postgres_admin, postgres_database

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TRADING_SECONDS = 4.0


@dataclass
class Drill:
    """One exchange that traded and was backed up while live, then stopped; databases to drop."""

    source: Server
    backup: Path
    manifest: dict[str, Any]
    databases: ExitStack
    root: Path

    def new_database(self, *, create: bool = True) -> str:
        """A fresh PostgreSQL database URL (or just a name the restore will create), dropped at the end."""
        return self.databases.enter_context(postgres_database(create=create))

    def empty_target(self, name: str) -> Server:
        """A server definition over a new data directory and a database the restore creates."""
        target = Server(self.root / name, {"DATABASE_URL": self.new_database(create=False)})
        target.data_dir.mkdir()
        return target


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    """Trade with the demo's simulated traders and back up while the exchange runs."""
    root = tmp_path_factory.mktemp("drill")
    with ExitStack() as databases:
        drill = Drill(Server(root / "data"), root / "backup", {}, databases, root)
        drill.source.services["DATABASE_URL"] = drill.new_database()
        drill.source.data_dir.mkdir()
        drill.source.start("--demo")
        try:
            time.sleep(TRADING_SECONDS)
            backed_up = script("backup.sh", drill.source.env, "--output", str(drill.backup))
            assert backed_up.returncode == 0, backed_up.stderr
            time.sleep(0.5)  # the exchange goes on after the backup
        finally:
            drill.source.stop()
        drill.manifest = json.loads((drill.backup / "manifest.json").read_text())
        yield drill


def script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one of the operator scripts with the test's wcx."""
    return subprocess.run(
        ["bash", str(SCRIPTS / name), *args],
        env={**env, "WCX_BIN": str(Path(sys.executable).with_name("wcx"))},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verified(env: dict[str, str], *args: str) -> dict[str, Any]:
    """`verify_data_integrity.sh --json`: it must pass; its report."""
    result = script("verify_data_integrity.sh", env, "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_drop_the_database_and_journal_restore_and_verify(drill: Drill) -> None:
    exchange, manifest = drill.source, drill.manifest
    assert manifest["database"] == "postgresql" and manifest["seq"] > 100
    assert sum(1 for _ in read_records(exchange.data_dir / "journal", 1)) > manifest["seq"]
    before = verified(exchange.env, "--to-seq", str(manifest["seq"]), "--no-database")
    assert before["state_hash"] == manifest["state_hash"]

    # The disaster: the database and the whole data directory are gone.
    asyncio.run(
        postgres_admin(f'DROP DATABASE "{make_url(exchange.env["DATABASE_URL"]).database}" WITH (FORCE)')
    )
    shutil.rmtree(exchange.data_dir)
    exchange.data_dir.mkdir()

    restored = script("restore.sh", exchange.env, "--from", str(drill.backup))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    after = verified(exchange.env)
    assert (after["seq"], after["state_hash"]) == (manifest["seq"], manifest["state_hash"])
    assert all(check["ok"] for check in after["checks"])

    # The restored exchange starts, serves, and still verifies after it stops.
    exchange.start()
    exchange.stop()
    assert verified(exchange.env)["ok"]


def test_point_in_time_restore_rebuilds_the_projection(drill: Drill) -> None:
    cut = drill.manifest["seq"] // 2
    target = drill.empty_target("pitr")
    restored = script("restore.sh", target.env, "--from", str(drill.backup), "--to-seq", str(cut))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "point-in-time restore" in restored.stdout
    report = verified(target.env)
    assert report["seq"] == cut
    replayed_source = Engine()
    for seq, ts, command in read_records(drill.backup / "journal", 1):
        if seq > cut:
            break
        replayed_source.apply(seq, ts, command)
    assert report["state_hash"] == replayed_source.state_hash()
    checks = {check["name"]: check["detail"] for check in report["checks"]}
    assert checks["projection: balances"].endswith(f"at seq {cut}")

    again = script("restore.sh", target.env, "--from", str(drill.backup))
    assert again.returncode != 0 and "already holds a journal" in again.stderr


def test_a_damaged_backup_is_refused_before_anything_is_written(drill: Drill) -> None:
    damaged = drill.root / "damaged"
    shutil.copytree(drill.backup, damaged)
    segment = sorted((damaged / "journal" / "journal").iterdir())[0]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0x01
    segment.write_bytes(bytes(data))
    target = drill.empty_target("refused")
    refused = script("restore.sh", target.env, "--from", str(damaged))
    assert refused.returncode == 1 and "does not match its SHA-256" in refused.stderr
    assert not (target.data_dir / "journal").exists()
