"""Snapshots (atomic, newest valid wins, pruned) and recovery (snapshot + tail = full replay)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from wcx.engine import Engine
from wcx.journal import (
    JournalError,
    Record,
    SnapshotSchedule,
    SnapshotWriter,
    list_snapshots,
    load_newest_snapshot,
    read_records,
    recover,
    replay,
)
from wcx.journal.snapshots import SNAPSHOT_HEADER, SNAPSHOT_MAGIC

from .conftest import records_of, trading_stream, write_journal

RECORDS = records_of(trading_stream(900))


def engine_at(seq: int, records: list[Record] = RECORDS) -> Engine:
    """An engine fed records up to and including `seq`."""
    engine = Engine()
    for record in records[:seq]:
        engine.apply(*record)
    return engine


def snapshot(tmp_path: Path, seq: int, *, keep: int = 3) -> Path:
    return SnapshotWriter(tmp_path, keep=keep).write(seq, engine_at(seq).snapshot())


def test_snapshot_roundtrip(tmp_path: Path) -> None:
    path = snapshot(tmp_path, 400)
    assert path == tmp_path / "snapshots" / f"{400:020d}.snap"
    found = load_newest_snapshot(tmp_path)
    assert found is not None
    engine, seq = found
    assert seq == 400
    assert engine.state_hash() == engine_at(400).state_hash()


def test_no_snapshot_loads_none(tmp_path: Path) -> None:
    assert load_newest_snapshot(tmp_path) is None


def test_leftover_temp_files_are_ignored_then_cleaned(tmp_path: Path) -> None:
    snapshot(tmp_path, 300)
    leftover = tmp_path / "snapshots" / f"{500:020d}.snap.tmp"
    leftover.write_bytes(b"half a snapshot")
    found = load_newest_snapshot(tmp_path)
    assert found is not None and found[1] == 300
    assert [seq for seq, _ in list_snapshots(tmp_path)] == [300]
    snapshot(tmp_path, 400)
    assert not leftover.exists()


def test_newest_snapshots_are_kept(tmp_path: Path) -> None:
    for seq in (100, 200, 300, 400, 500):
        snapshot(tmp_path, seq, keep=3)
    assert [seq for seq, _ in list_snapshots(tmp_path)] == [300, 400, 500]


def corrupt_payload(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[SNAPSHOT_HEADER.size + 10] ^= 0x01
    path.write_bytes(bytes(data))


def rewrite_version(path: Path) -> None:
    data = path.read_bytes()
    _, _, seq, length, crc = SNAPSHOT_HEADER.unpack_from(data)
    path.write_bytes(SNAPSHOT_HEADER.pack(SNAPSHOT_MAGIC, 9, seq, length, crc) + data[SNAPSHOT_HEADER.size :])


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-50])


@pytest.mark.parametrize("damage", [corrupt_payload, rewrite_version, truncate])
def test_invalid_newest_snapshot_is_logged_and_an_older_one_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    snapshot(tmp_path, 200)
    newest = snapshot(tmp_path, 600)
    damage(newest)
    with caplog.at_level(logging.WARNING, logger="wcx.journal"):
        found = load_newest_snapshot(tmp_path)
    assert found is not None
    assert found[1] == 200
    assert found[0].state_hash() == engine_at(200).state_hash()
    assert f"{newest}: skipping invalid snapshot" in caplog.text


def test_recovery_from_snapshot_and_tail_equals_full_replay(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=25, segment_bytes=8192)
    snapshot(tmp_path, 500)
    recovered, last_seq = recover(tmp_path)
    replayed, replayed_seq = replay(tmp_path)
    assert last_seq == replayed_seq == len(RECORDS)
    assert recovered.state_hash() == replayed.state_hash() == engine_at(len(RECORDS)).state_hash()


def test_recovery_falls_back_to_an_older_snapshot_with_a_longer_tail(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=25)
    snapshot(tmp_path, 300)
    corrupt_payload(snapshot(tmp_path, 700))
    recovered, last_seq = recover(tmp_path)
    assert last_seq == len(RECORDS)
    assert recovered.state_hash() == engine_at(len(RECORDS)).state_hash()


def test_recovery_without_snapshot_replays_everything(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:200])
    recovered, last_seq = recover(tmp_path)
    assert last_seq == 200
    assert recovered.state_hash() == engine_at(200).state_hash()


def test_recovery_of_an_empty_directory_is_a_fresh_engine(tmp_path: Path) -> None:
    engine, last_seq = recover(tmp_path)
    assert last_seq == 0
    assert engine.state_hash() == Engine().state_hash()


def test_recovery_truncates_a_torn_tail(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:100], segment_bytes=1 << 20)
    (path,) = (tmp_path / "journal").iterdir()
    size = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(b"\x10\x00\x00\x00\x01\x02")
    assert recover(tmp_path)[1] == 100
    assert path.stat().st_size == size


def test_snapshot_beyond_the_journal_is_an_error(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:100])
    snapshot(tmp_path, 150)
    with pytest.raises(JournalError, match="ends at seq 100; cannot read from seq 151"):
        recover(tmp_path)


def test_replay_ignores_snapshots_and_reads_from_seq_one(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:100])
    snapshot(tmp_path, 50)
    engine, last_seq = replay(tmp_path)
    assert last_seq == 100
    assert engine.state_hash() == engine_at(100).state_hash()
    assert len(list(read_records(tmp_path))) == 100


@pytest.mark.parametrize(
    ("every", "interval", "seq", "elapsed", "due"),
    [
        (100, None, 150, 0.0, False),  # 50 commands since the last one at 100
        (100, None, 200, 0.0, True),
        (None, 60.0, 101, 59.0, False),
        (None, 60.0, 101, 60.0, True),
        (100, 60.0, 100, 3600.0, False),  # nothing new since the last snapshot
        (None, None, 10**9, 1e9, False),  # no schedule: never
    ],
)
def test_a_snapshot_is_due_after_enough_commands_or_time(
    every: int | None, interval: float | None, seq: int, elapsed: float, due: bool
) -> None:
    schedule = SnapshotSchedule(every, interval, last_seq=100, last_time=1_000.0)
    assert schedule.due(seq, 1_000.0 + elapsed) is due


def test_a_taken_snapshot_restarts_the_schedule() -> None:
    schedule = SnapshotSchedule(100, 60.0, last_seq=0, last_time=0.0)
    assert schedule.due(100, 1.0)
    schedule.taken(100, 1.0)
    assert not schedule.due(150, 30.0)
    assert schedule.due(150, 61.0) and schedule.due(200, 30.0)
