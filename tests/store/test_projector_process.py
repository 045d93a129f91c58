"""The projector in its own process: follows the journal to the durable seq, survives its own death,
stops with everything durable written, exits when its parent dies, and stops start-up when it cannot
catch up."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select, update

from wcx.engine import Engine, Event
from wcx.journal import JournalWriter, list_snapshots, read_snapshot
from wcx.store.projector import Projector
from wcx.store.projector_process import ProjectorProcess, ProjectorProcessError
from wcx.store.schema import projector_checkpoints

from .conftest import Database, Journal, rich_journal, run
from .test_projector import assert_projection_matches


def durable(writer: JournalWriter, journal: Journal, start: int, end: int) -> list[Event]:
    """Journal records [start, end) with one group commit; their events, as the sequencer hands them out."""
    writer.append(journal.records[start:end])
    writer.sync()
    return [event for events in journal.events[start:end] for event in events]


async def sql_checkpoint(database: Database) -> int:
    async with database.connect() as db, db.connect() as connection:
        return int(await connection.scalar(select(projector_checkpoints.c.seq)) or 0)


def test_follows_the_journal_to_the_durable_seq_and_no_further(database: Database, tmp_path: Path) -> None:
    journal = rich_journal(1_500, seed=8)
    root = tmp_path / "journal"

    async def body() -> None:
        with JournalWriter(root, segment_bytes=64 * 1024) as writer:
            durable(writer, journal, 0, 400)
            process = ProjectorProcess(database.url, root, log_level="WARNING")
            process.start(400)
            try:
                await process.wait_caught_up()
                assert process.checkpoint == 400
                assert process.pid is not None and process.pid != os.getpid()
                for start in range(400, len(journal.records), 97):
                    process.on_events(durable(writer, journal, start, start + 97))
                await process.flush()
                async with database.connect() as db:
                    await assert_projection_matches(db, journal)
                # Written to the journal but never reported durable: the child must not project it.
                before = process.checkpoint
                journal.apply(journal.records[-1][2])
                writer.append(journal.records[-1:])
                time.sleep(0.3)
                assert process.checkpoint == before == await sql_checkpoint(database)
            finally:
                await process.stop()

    run(body())


def test_a_killed_child_is_restarted_and_resumes_from_its_checkpoint(
    database: Database, tmp_path: Path
) -> None:
    journal = rich_journal(1_200, seed=9)
    root = tmp_path / "journal"

    async def body() -> None:
        with JournalWriter(root) as writer:
            durable(writer, journal, 0, 100)
            process = ProjectorProcess(database.url, root, log_level="CRITICAL")
            process.start(100)
            try:
                await process.wait_caught_up()
                first = process.pid
                assert first is not None
                for start in range(100, 700, 50):
                    process.on_events(durable(writer, journal, start, start + 50))
                os.kill(first, signal.SIGKILL)
                for start in range(700, len(journal.records), 50):
                    process.on_events(durable(writer, journal, start, start + 50))
                await process.flush()
                assert process.restarts == 1 and process.pid != first
                async with database.connect() as db:
                    await assert_projection_matches(db, journal)  # nothing lost, nothing twice
            finally:
                await process.stop()

    run(body())


def test_the_child_writes_the_engine_snapshots_of_durable_state(database: Database, tmp_path: Path) -> None:
    journal = rich_journal(1_000, seed=11)
    root = tmp_path / "journal"
    every = 300

    async def body() -> None:
        with JournalWriter(root) as writer:
            durable(writer, journal, 0, 100)
            process = ProjectorProcess(database.url, root, log_level="WARNING", snapshots=(every, 3600.0))
            process.start(100)
            try:
                await process.wait_caught_up()
                last = len(journal.records) - 1
                for start in range(100, last, 50):
                    process.on_events(durable(writer, journal, start, min(start + 50, last)))
                # The last record is written but never reported durable: no snapshot may include it.
                writer.append(journal.records[-1:])
                await process.flush()
            finally:
                await process.stop()

    run(body())
    written = list_snapshots(root)
    seqs = [seq for seq, _ in written]
    assert seqs, "no snapshot written"
    assert seqs[0] >= every and all(b - a >= every for a, b in itertools.pairwise(seqs))
    assert seqs[-1] < len(journal.records)
    for seq, path in written:
        replica = Engine()
        for record in journal.records[:seq]:
            replica.apply(*record)
        assert read_snapshot(seq, path).state_hash() == replica.state_hash()


def test_stop_writes_everything_durable_first(database: Database, tmp_path: Path) -> None:
    journal = rich_journal(800, seed=10)
    root = tmp_path / "journal"

    async def body() -> None:
        with JournalWriter(root) as writer:
            process = ProjectorProcess(database.url, root, log_level="WARNING")
            process.start(0)
            await process.wait_caught_up()
            process.on_events(durable(writer, journal, 0, len(journal.records)))
            await process.stop()  # no flush
        assert await sql_checkpoint(database) == len(journal.records)
        assert process.lag_seq == 0

    run(body())


def test_an_orphaned_child_exits(tmp_path: Path) -> None:
    database = Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'orphan.sqlite3'}")
    run(_migrate(database))
    parent = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from pathlib import Path
        from wcx.store.projector_process import ProjectorProcess

        async def main():
            root = Path({str(tmp_path / "journal")!r})
            process = ProjectorProcess({database.url!r}, root, log_level="WARNING")
            process.start(0)
            await process.wait_caught_up()
            print(process.pid, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    JournalWriter(tmp_path / "journal").close()
    done = subprocess.run(
        [sys.executable, "-c", parent], check=False, capture_output=True, text=True, timeout=60
    )
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_a_child_that_cannot_catch_up_stops_start_up(database: Database, tmp_path: Path) -> None:
    journal = rich_journal(50, seed=12)
    root = tmp_path / "journal"

    async def body() -> None:
        with JournalWriter(root) as writer:
            durable(writer, journal, 0, 50)
        async with database.connect() as db:
            await Projector(db).read_checkpoint()  # creates the row
            async with db.begin() as connection:
                # SQL says it holds seq 1000: the journal ends before that (a restore from the wrong backup).
                await connection.execute(update(projector_checkpoints).values(seq=1_000))
        process = ProjectorProcess(database.url, root, log_level="CRITICAL")
        process.start(50)
        try:
            with pytest.raises(ProjectorProcessError, match="exited with status 2"):
                await process.wait_caught_up(attempts=2)
        finally:
            await process.stop()

    run(body())


async def _migrate(database: Database) -> None:
    from wcx.store.migrate import upgrade

    async with database.connect() as db:
        await upgrade(db)


def _running(pid: int) -> bool:
    """Whether `pid` is alive and not a zombie (the orphan's new parent may not have reaped it yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
