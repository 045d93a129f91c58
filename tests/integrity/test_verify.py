"""`verify_integrity` and `wcx verify`: a clean exchange passes, and each kind of damage is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from store.conftest import Database, Journal, project, rich_journal, run

from wcx.engine import CreditDeposit, Engine
from wcx.integrity.verify import IntegrityReport, verify_integrity
from wcx.journal import JournalWriter, SnapshotWriter
from wcx.store.audit import record_audit
from wcx.store.db import create_engine
from wcx.store.projector import Projector
from wcx.store.schema import audit_events, ledger_entries, orders

SNAPSHOT_AT = 400


def write_data_dir(journal: Journal, data_dir: Path, *, segment_bytes: int = 64 * 1024) -> None:
    """The journal's records as segments (several of them) and one snapshot at SNAPSHOT_AT."""
    with JournalWriter(data_dir, segment_bytes=segment_bytes) as writer:
        for start in range(0, len(journal.records), 50):  # a segment rolls over between group commits
            writer.append(journal.records[start : start + 50])
            writer.sync()
    SnapshotWriter(data_dir).write(SNAPSHOT_AT, replayed(journal, SNAPSHOT_AT).snapshot())


def replayed(journal: Journal, to_seq: int) -> Engine:
    """A fresh engine fed the journal's records up to `to_seq`."""
    engine = Engine()
    for seq, ts, command in journal.records[:to_seq]:
        engine.apply(seq, ts, command)
    return engine


def verify(data_dir: Path, url: str | None, to_seq: int | None = None) -> IntegrityReport:
    """Run the checks against a data directory and (optionally) a database."""

    async def go() -> IntegrityReport:
        db = create_engine(url) if url else None
        try:
            return await verify_integrity(data_dir, db, to_seq=to_seq)
        finally:
            if db is not None:
                await db.dispose()

    return run(go())


def failed(report: IntegrityReport) -> dict[str, str]:
    """Name -> detail of every failed check."""
    return {check.name: check.detail for check in report.checks if not check.ok}


def exchange_with_history(database: Database, data_dir: Path) -> Journal:
    """A rich journal on disk, projected into the database, with a short audit chain."""
    journal = rich_journal(count=1_500)
    write_data_dir(journal, data_dir)

    async def fill(db: AsyncEngine) -> None:
        await project(db, journal)
        async with db.begin() as connection:
            for action in ("login", "withdrawal_request"):
                await record_audit(connection, actor="user:1", action=action, at=datetime.now(UTC))

    with_db(database.url, fill)
    return journal


def with_db(url: str, action: object) -> None:
    """Run `action(db)` against the database at `url`."""

    async def go() -> None:
        db = create_engine(url)
        try:
            await action(db)  # type: ignore[operator]
        finally:
            await db.dispose()

    run(go())


async def bump_a_user_ledger_row(db: AsyncEngine) -> None:
    """Add one minor unit to one user's ledger row (what a stray manual UPDATE would do)."""
    async with db.begin() as connection:
        seq, entry, available = (
            await connection.execute(
                select(ledger_entries.c.seq, ledger_entries.c.entry, ledger_entries.c.available_delta)
                .where(ledger_entries.c.account_id > 0)
                .limit(1)
            )
        ).one()
        await connection.execute(
            update(ledger_entries)
            .where(ledger_entries.c.seq == seq, ledger_entries.c.entry == entry)
            .values(available_delta=available + 1)
        )


def test_a_consistent_exchange_passes_every_check(database: Database, tmp_path: Path) -> None:
    journal = exchange_with_history(database, tmp_path)
    report = verify(tmp_path, database.url)
    assert report.ok, failed(report)
    assert report.last_seq == len(journal.records)
    assert report.state_hash == journal.engine.state_hash()
    names = [check.name for check in report.checks]
    assert names == [
        "journal: frames and continuity",
        "audit: hash chain",
        "ledger: double entry",
        "projection: balances",
        "projection: open orders",
        "snapshots: equal to the replay",
    ]
    details = {check.name: check.detail for check in report.checks}
    assert details["snapshots: equal to the replay"] == "1 snapshots match"
    assert details["audit: hash chain"] == "2 records chained"


def test_a_changed_ledger_row_breaks_balances_and_double_entry(database: Database, tmp_path: Path) -> None:
    exchange_with_history(database, tmp_path)

    with_db(database.url, bump_a_user_ledger_row)
    problems = failed(verify(tmp_path, database.url))
    assert set(problems) == {"projection: balances", "ledger: double entry"}
    assert problems["projection: balances"].startswith("1 mismatches")


def test_an_open_order_that_disagrees_is_named(database: Database, tmp_path: Path) -> None:
    journal = exchange_with_history(database, tmp_path)
    order_id = next(iter(journal.engine.state.orders))

    async def tamper(db: AsyncEngine) -> None:
        async with db.begin() as connection:
            await connection.execute(
                update(orders).where(orders.c.order_id == order_id).values(status="cancelled")
            )

    with_db(database.url, tamper)
    problems = failed(verify(tmp_path, database.url))
    assert set(problems) == {"projection: open orders"}
    assert f"{order_id}: engine" in problems["projection: open orders"]


def test_a_projection_behind_the_journal_is_compared_at_its_checkpoint(
    database: Database, tmp_path: Path
) -> None:
    journal = rich_journal(count=600)
    write_data_dir(journal, tmp_path)
    half = len(journal.events) // 2

    async def project_half(db: AsyncEngine) -> None:
        projector = Projector(db)
        await projector.start()
        projector.on_events([event for events in journal.events[:half] for event in events])
        await projector.flush()
        await projector.stop()

    with_db(database.url, project_half)
    report = verify(tmp_path, database.url)
    assert report.ok, failed(report)
    details = {check.name: check.detail for check in report.checks}
    assert details["projection: balances"].endswith(f"at seq {half}")
    assert report.last_seq == len(journal.records)


def test_audit_tampering_is_reported(database: Database, tmp_path: Path) -> None:
    exchange_with_history(database, tmp_path)

    async def tamper(db: AsyncEngine) -> None:
        async with db.begin() as connection:
            first = (await connection.execute(select(audit_events.c.id).order_by(audit_events.c.id))).first()
            assert first is not None
            await connection.execute(
                update(audit_events).where(audit_events.c.id == first.id).values(actor="x")
            )

    with_db(database.url, tamper)
    problems = failed(verify(tmp_path, database.url))
    assert set(problems) == {"audit: hash chain"}


def test_a_flipped_byte_in_an_older_segment_is_named(tmp_path: Path) -> None:
    journal = rich_journal(count=800)
    write_data_dir(journal, tmp_path, segment_bytes=16 * 1024)
    segments = sorted((tmp_path / "journal").iterdir())
    assert len(segments) > 2
    data = bytearray(segments[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    segments[1].write_bytes(bytes(data))
    problems = failed(verify(tmp_path, None))
    assert "journal: frames and continuity" in problems
    assert segments[1].name in problems["journal: frames and continuity"]


def test_a_snapshot_that_disagrees_with_the_replay_is_named(tmp_path: Path) -> None:
    journal = rich_journal(count=600)
    write_data_dir(journal, tmp_path)
    # Same seq, different history: the last command before the snapshot replaced by a deposit.
    forged = replayed(journal, SNAPSHOT_AT - 1)
    forged.apply(SNAPSHOT_AT, journal.records[SNAPSHOT_AT - 1][1], CreditDeposit(1, "USDT", 1, "forged"))
    SnapshotWriter(tmp_path).write(SNAPSHOT_AT, forged.snapshot())
    problems = failed(verify(tmp_path, None))
    assert set(problems) == {"snapshots: equal to the replay"}
    assert "state hash differs" in problems["snapshots: equal to the replay"]


def test_point_in_time_replays_to_the_asked_seq(tmp_path: Path) -> None:
    journal = rich_journal(count=600)
    write_data_dir(journal, tmp_path)
    report = verify(tmp_path, None, to_seq=250)
    assert report.ok, failed(report)
    assert (report.last_seq, report.state_hash) == (250, replayed(journal, 250).state_hash())
    beyond = verify(tmp_path, None, to_seq=len(journal.records) + 10)
    assert set(failed(beyond)) == {"journal: point in time"}


def test_the_command_exits_1_on_damage_and_prints_json(database: Database, tmp_path: Path) -> None:
    # The server's layout: the journal's own segments and snapshots under DATA_DIR/journal.
    journal = exchange_with_history(database, tmp_path / "journal")
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": database.url, "WCX_ENV": "development"}

    def wcx_verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wcx", "verify", "--json"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    clean = wcx_verify()
    assert clean.returncode == 0, clean.stderr
    out = json.loads(clean.stdout)
    assert (
        out["ok"] and out["seq"] == len(journal.records) and out["state_hash"] == journal.engine.state_hash()
    )

    with_db(database.url, bump_a_user_ledger_row)
    damaged = wcx_verify()
    assert damaged.returncode == 1
    assert not json.loads(damaged.stdout)["ok"]
