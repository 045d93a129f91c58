"""The sequencer: seq and ts assignment, group commit, durability before ack, snapshots, restart."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from itertools import count, islice
from pathlib import Path
from typing import Any, TypeVar

import pytest

from wcx.engine import CreditDeposit, Engine, Event
from wcx.journal import (
    JournalWriter,
    Record,
    SnapshotWriter,
    list_segments,
    list_snapshots,
    read_records,
    replay,
)
from wcx.sequencer import Sequencer, SequencerClosedError, SequencerFailedError
from wcx.sequencer.sequencer import Journal
from wcx.testing.crash_child import command_stream

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def stream(seed: int = 3) -> Iterator[Any]:
    return command_stream(seed, fresh=True)


class ThreadSyncedJournal:
    """A journal that is not a file journal (like the cluster's), so the sequencer syncs it in a thread."""

    def __init__(self, data_dir: Path) -> None:
        self.writer = JournalWriter(data_dir)
        self.last_seq, self.last_ts = self.writer.last_seq, self.writer.last_ts

    def append(self, records: Sequence[Record]) -> None:
        self.writer.append(records)
        self.last_seq, self.last_ts = self.writer.last_seq, self.writer.last_ts

    def sync(self) -> None:
        self.writer.sync()

    def close(self) -> None:
        self.writer.close()


class SlowJournal(ThreadSyncedJournal):
    """Its sync waits until the test lets it finish."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.release = threading.Event()
        self.entered = threading.Event()

    def sync(self) -> None:
        self.entered.set()
        assert self.release.wait(10)
        super().sync()


class FailingJournal(ThreadSyncedJournal):
    def sync(self) -> None:
        raise OSError(5, "Input/output error")


class UnsyncableJournal(JournalWriter):
    """A file journal whose descriptor for the sync process names a pipe, which fdatasync refuses."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.pipe = os.pipe()

    def fileno(self) -> int:
        return self.pipe[0]

    def close(self) -> None:
        super().close()
        for fd in self.pipe:
            os.close(fd)


class RecordingSnapshots(SnapshotWriter):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, keep=100)
        self.seqs: list[int] = []

    def write(self, seq: int, payload: bytes) -> Path:
        self.seqs.append(seq)
        return super().write(seq, payload)


def sequencer_over(tmp_path: Path, **options: Any) -> Sequencer:
    return Sequencer(Engine(), JournalWriter(tmp_path), owns_journal=True, **options)


def test_acks_carry_the_events_and_seqs_are_contiguous(tmp_path: Path) -> None:
    commands = list(islice(stream(), 300))

    async def scenario() -> list[list[Event]]:
        async with sequencer_over(tmp_path) as sequencer:
            first = await asyncio.gather(*(sequencer.submit(c) for c in commands[:150]))
            rest = await sequencer.submit_many(commands[150:])
            assert sequencer.last_seq == 300
            return [*first, *rest]

    acks = run(scenario())
    assert len(acks) == 300
    for seq, events in enumerate(acks, 1):
        assert events, f"command {seq} acknowledged without events"
        assert {event.seq for event in events} == {seq}
    assert [record[0] for record in read_records(tmp_path)] == list(range(1, 301))
    assert [record[2] for record in read_records(tmp_path)] == commands


def test_timestamps_come_from_the_clock_and_never_go_back(tmp_path: Path) -> None:
    readings = iter([5_000, 7_000, 6_000, 9_000])

    async def scenario() -> list[int]:
        async with sequencer_over(tmp_path, clock=lambda: next(readings)) as sequencer:
            acks = [await sequencer.submit(CreditDeposit(1, "BTC", 1, f"d{i}")) for i in range(4)]
        return [events[0].ts for events in acks]

    assert run(scenario()) == [5_000, 7_000, 7_000, 9_000]
    assert [ts for _, ts, _ in read_records(tmp_path)] == [5_000, 7_000, 7_000, 9_000]


def test_commands_submitted_in_one_tick_share_one_fsync(tmp_path: Path) -> None:
    async def scenario() -> Sequencer:
        async with sequencer_over(tmp_path) as sequencer:
            futures = [sequencer.submit(command) for command in islice(stream(), 50)]
            batch = sequencer.submit_many(list(islice(stream(4), 50, 80)))
            await asyncio.gather(*futures, batch)
        return sequencer

    sequencer = run(scenario())
    assert isinstance(sequencer.journal, JournalWriter)
    assert (sequencer.batches, sequencer.journal.syncs, sequencer.last_seq) == (1, 1, 80)


def test_nothing_is_acknowledged_or_published_before_the_fsync_returns(tmp_path: Path) -> None:
    """A file journal: the sync process is stopped (SIGSTOP) while the batch waits for it."""
    published: list[list[Event]] = []

    async def scenario() -> None:
        async with sequencer_over(tmp_path) as sequencer:
            sequencer.add_listener(published.append)
            helper = sequencer.sync_process_pid
            assert helper is not None
            os.kill(helper, signal.SIGSTOP)
            try:
                acked = sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
                await asyncio.sleep(0.2)
                assert not acked.done()
                assert published == []
                assert [record[0] for record in read_records(tmp_path)] == [1]  # written, not yet durable
            finally:
                os.kill(helper, signal.SIGCONT)
            events = await acked
            assert [event.seq for event in events] == [1]
            assert published == [events]
            assert isinstance(sequencer.journal, JournalWriter) and sequencer.journal.syncs == 1

    run(scenario())


def test_a_journal_synced_in_a_thread_is_acknowledged_only_after_its_sync(tmp_path: Path) -> None:
    journal = SlowJournal(tmp_path)
    published: list[list[Event]] = []

    async def scenario() -> None:
        async with Sequencer(Engine(), journal, owns_journal=True) as sequencer:
            assert sequencer.sync_process_pid is None
            sequencer.add_listener(published.append)
            acked = sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
            assert await asyncio.to_thread(journal.entered.wait, 10)
            await asyncio.sleep(0.05)
            assert not acked.done()
            assert published == []
            journal.release.set()
            events = await acked
            assert [event.seq for event in events] == [1]
            assert published == [events]

    run(scenario())


def test_the_sync_process_follows_the_journal_to_each_new_segment(tmp_path: Path) -> None:
    """After a segment roll the helper syncs (holds) the new segment file, not the old one."""

    async def scenario() -> tuple[set[str], list[Path]]:
        sequencer = Sequencer(Engine(), JournalWriter(tmp_path, segment_bytes=4096), owns_journal=True)
        async with sequencer:
            for batch in range(40):
                await sequencer.submit_many(list(islice(stream(batch), 5)))
            helper = sequencer.sync_process_pid
            held = {os.readlink(fd) for fd in Path(f"/proc/{helper}/fd").iterdir()}
        return held, [path for _, path in list_segments(tmp_path)]

    held, segments = run(scenario())
    assert len(segments) > 3
    assert str(segments[-1].resolve()) in held
    assert not {str(path.resolve()) for path in segments[:-1]} & held


def test_listeners_get_each_batch_in_seq_order_and_a_failing_one_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue: asyncio.Queue[list[Event]] | None = None

    def broken(events: list[Event]) -> None:
        raise RuntimeError("listener bug")

    async def scenario() -> list[list[Event]]:
        nonlocal queue
        queue = asyncio.Queue()
        async with sequencer_over(tmp_path) as sequencer:
            sequencer.add_listener(broken)
            sequencer.add_listener(queue.put_nowait)
            await sequencer.submit_many(list(islice(stream(), 40)))
            sequencer.remove_listener(broken)
            await sequencer.submit(CreditDeposit(1, "BTC", 5, "late"))
        return [queue.get_nowait() for _ in range(queue.qsize())]

    with caplog.at_level(logging.ERROR, logger="wcx.sequencer"):
        batches = run(scenario())
    assert len(batches) == 2
    seqs = [event.seq for batch in batches for event in batch]
    assert seqs == sorted(seqs)
    assert set(seqs) == set(range(1, 42))
    assert len([r for r in caplog.records if r.exc_info and "listener bug" in str(r.exc_info[1])]) == 1


def test_snapshots_every_n_commands(tmp_path: Path) -> None:
    snapshots = RecordingSnapshots(tmp_path)

    async def scenario() -> None:
        async with sequencer_over(tmp_path, snapshots=snapshots, snapshot_every=10) as sequencer:
            for command in islice(stream(), 35):
                await sequencer.submit(command)
                while sequencer.snapshot_in_progress:
                    await asyncio.sleep(0.001)

    run(scenario())
    assert snapshots.seqs == [10, 20, 30]
    assert [seq for seq, _ in list_snapshots(tmp_path)] == [10, 20, 30]


def test_snapshots_every_t_seconds(tmp_path: Path) -> None:
    snapshots = RecordingSnapshots(tmp_path)
    now = count(0.0, 4.0)

    async def scenario() -> None:
        options: dict[str, Any] = {"snapshot_interval": 10.0, "monotonic": lambda: next(now)}
        async with sequencer_over(tmp_path, snapshots=snapshots, **options) as sequencer:
            for command in islice(stream(), 6):
                await sequencer.submit(command)
                while sequencer.snapshot_in_progress:
                    await asyncio.sleep(0.001)

    run(scenario())
    # The clock reads 0 at start, then 4, 8, 12 (due), 16, 20, 24 (due) at each batch.
    assert snapshots.seqs == [3, 6]


def test_restart_after_stop_recovers_and_continues(tmp_path: Path) -> None:
    commands = list(islice(stream(), 700))

    async def session(part: list[Any]) -> tuple[int, str]:
        async with Sequencer.open(tmp_path, snapshot_every=150, segment_bytes=16_384) as sequencer:
            start = sequencer.last_seq
            await sequencer.submit_many(part)
            assert sequencer.last_seq == start + len(part)
            return sequencer.last_seq, sequencer.engine.state_hash()

    assert run(session(commands[:400]))[0] == 400
    last_seq, state_hash = run(session(commands[400:]))
    assert last_seq == 700
    assert list_snapshots(tmp_path)
    replayed, replayed_seq = replay(tmp_path)
    assert (replayed_seq, replayed.state_hash()) == (700, state_hash)


@pytest.mark.parametrize(
    ("make_journal", "error"),
    [(UnsyncableJournal, "Invalid argument"), (FailingJournal, "Input/output error")],
)
def test_a_failed_fsync_fails_the_callers_and_stops_the_sequencer(
    tmp_path: Path, make_journal: Callable[[Path], Journal], error: str
) -> None:
    async def scenario() -> None:
        sequencer = Sequencer(Engine(), make_journal(tmp_path), owns_journal=True)
        async with sequencer:
            with pytest.raises(SequencerFailedError, match=error):
                await sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
            with pytest.raises(SequencerFailedError):
                sequencer.submit(CreditDeposit(1, "BTC", 5, "d2"))

    run(scenario())


def test_a_sync_process_that_dies_fails_the_callers_and_stops_the_sequencer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with sequencer_over(tmp_path) as sequencer:
            await sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
            helper = sequencer.sync_process_pid
            assert helper is not None
            os.kill(helper, signal.SIGKILL)
            with pytest.raises(SequencerFailedError, match="sync process exited"):
                await sequencer.submit(CreditDeposit(1, "BTC", 5, "d2"))
            with pytest.raises(SequencerFailedError):
                sequencer.submit(CreditDeposit(1, "BTC", 5, "d3"))

    run(scenario())


def test_submit_requires_a_running_sequencer(tmp_path: Path) -> None:
    async def scenario() -> None:
        sequencer = sequencer_over(tmp_path)
        with pytest.raises(SequencerClosedError):
            sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
        async with sequencer:
            await sequencer.submit(CreditDeposit(1, "BTC", 5, "d1"))
        with pytest.raises(SequencerClosedError):
            sequencer.submit_many([CreditDeposit(1, "BTC", 5, "d2")])

    run(scenario())


def test_engine_and_journal_must_agree_on_the_last_seq(tmp_path: Path) -> None:
    with JournalWriter(tmp_path) as journal:
        journal.append([(1, 1, CreditDeposit(1, "BTC", 5, "d1"))])
        with pytest.raises(ValueError, match="engine is at seq 0, journal at 1"):
            Sequencer(Engine(), journal)
