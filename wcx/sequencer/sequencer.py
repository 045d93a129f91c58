"""The sequencer: orders commands, makes them durable, applies them, answers and publishes.

Every command submitted during one event-loop tick forms a batch. For a batch the sequencer
assigns seq = last_seq + 1, … and one timestamp from the injected clock (never earlier than the
previous batch's), appends the records to the journal, starts the fsync (in a helper process for a
file journal, `wcx.journal.sync_process`; in a worker thread for any other journal), applies the
batch to the engine while the fsync runs, and only after the fsync returns resolves
the callers' futures and calls the listeners. Commands that arrive while a batch is in flight
form the next batch, so the batch size grows with the load (group commit).

A journal or engine failure is fatal: the sequencer fails every waiting caller with
`SequencerFailedError` and refuses new commands; the process must restart and recover.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from wcx.engine import Command, Engine, Event
from wcx.journal import (
    DEFAULT_KEEP,
    DEFAULT_SEGMENT_BYTES,
    SNAPSHOT_EVERY,
    SNAPSHOT_INTERVAL_S,
    JournalWriter,
    Record,
    SnapshotSchedule,
    SnapshotWriter,
    recover,
)
from wcx.journal.sync_process import SyncProcess

logger = logging.getLogger(__name__)

Listener = Callable[[list[Event]], object]
"""Called in the event-loop thread with a durable batch's events, in seq order. Must not block."""

_SINGLE = -1


class Journal(Protocol):
    """What the sequencer needs from a journal writer (`wcx.journal.JournalWriter` is one)."""

    last_seq: int
    last_ts: int

    def append(self, records: Sequence[Record]) -> None:
        """Write records (no durability yet)."""

    def sync(self) -> None:
        """Make every appended record durable; runs in a worker thread (not for a `JournalWriter`)."""

    def close(self) -> None:
        """Release the files."""


class SequencerClosedError(RuntimeError):
    """The sequencer is not running (not started, or stopped)."""


class SequencerFailedError(RuntimeError):
    """A journal or engine failure stopped the sequencer; restart and recover."""


class Sequencer:
    """Assigns seq and ts, journals with group commit, applies, then acknowledges and publishes.

    Use `async with Sequencer.open(data_dir) as sequencer:` (recovers the directory first), or
    build one over an engine and journal and call `await start()` / `await stop()`.
    Snapshots (if a `SnapshotWriter` is given) are taken after the first batch that reaches
    `snapshot_every` commands or `snapshot_interval` seconds since the previous one.
    `submit`, `submit_many` and the listener methods must be called from the event-loop thread.
    """

    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        *,
        clock: Callable[[], int] = time.time_ns,
        snapshots: SnapshotWriter | None = None,
        snapshot_every: int | None = None,
        snapshot_interval: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        owns_journal: bool = False,
    ) -> None:
        if engine.state.last_seq != journal.last_seq:
            raise ValueError(f"engine is at seq {engine.state.last_seq}, journal at {journal.last_seq}")
        self.engine = engine
        self.journal = journal
        self.snapshots = snapshots
        self.batches = 0
        self._clock = clock
        self._monotonic = monotonic
        self._owns_journal = owns_journal
        self._last_seq = journal.last_seq
        self._last_ts = journal.last_ts
        self._schedule = SnapshotSchedule(snapshot_every, snapshot_interval, self._last_seq, monotonic())
        self._snapshot_future: asyncio.Future[Any] | None = None
        self._commands: list[Command] = []
        self._waiters: list[tuple[asyncio.Future[Any], int, int]] = []
        self._in_flight: list[tuple[asyncio.Future[Any], int, int]] = []
        self._listeners: list[Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._closing = False
        self._failure: BaseException | None = None
        self._sync_thread: ThreadPoolExecutor | None = None
        self._sync_process: SyncProcess | None = None
        self._snapshot_thread: ThreadPoolExecutor | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        snapshot_every: int | None = SNAPSHOT_EVERY,
        snapshot_interval: float | None = SNAPSHOT_INTERVAL_S,
        keep_snapshots: int = DEFAULT_KEEP,
        clock: Callable[[], int] = time.time_ns,
    ) -> Sequencer:
        """Recover `data_dir` (snapshot + journal tail) and return a sequencer that owns its journal."""
        engine, _ = recover(data_dir)
        return cls(
            engine,
            JournalWriter(data_dir, segment_bytes=segment_bytes),
            clock=clock,
            snapshots=SnapshotWriter(data_dir, keep=keep_snapshots),
            snapshot_every=snapshot_every,
            snapshot_interval=snapshot_interval,
            owns_journal=True,
        )

    @property
    def last_seq(self) -> int:
        """Seq of the last command sequenced (durable once its batch is acknowledged)."""
        return self._last_seq

    @property
    def failure(self) -> BaseException | None:
        """What stopped the sequencer for good (None while it runs)."""
        return self._failure

    @property
    def sync_process_pid(self) -> int | None:
        """The process id of the file journal's sync helper while it runs (None for other journals)."""
        return self._sync_process.pid if self._sync_process is not None else None

    @property
    def snapshot_in_progress(self) -> bool:
        """Whether a snapshot is being written in the background."""
        return self._snapshot_future is not None and not self._snapshot_future.done()

    def add_listener(self, listener: Listener) -> None:
        """Receive each durable batch's events (e.g. pass `queue.put_nowait` of an asyncio.Queue)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling a listener."""
        self._listeners.remove(listener)

    async def start(self) -> None:
        """Start the batching task on the running loop."""
        if self._task is not None:
            raise RuntimeError("sequencer already started")
        self._loop = asyncio.get_running_loop()
        if isinstance(self.journal, JournalWriter):
            self._sync_process = SyncProcess()
            await self._sync_process.start()
        else:
            self._sync_thread = ThreadPoolExecutor(1, thread_name_prefix="wcx-journal-sync")
        self._snapshot_thread = ThreadPoolExecutor(1, thread_name_prefix="wcx-snapshot")
        self._task = self._loop.create_task(self._run(), name="wcx-sequencer")

    async def stop(self) -> None:
        """Sequence what was already submitted, finish a snapshot in progress, release threads and files."""
        if self._task is None:
            return
        self._closing = True
        self._wake()
        await self._task
        if self._snapshot_future is not None:
            await asyncio.wait([self._snapshot_future])
        for pool in (self._sync_thread, self._snapshot_thread):
            if pool is not None:
                pool.shutdown()
        if self._sync_process is not None:
            await self._sync_process.stop()
        if self._owns_journal:
            self.journal.close()
        self._task = None

    async def __aenter__(self) -> Sequencer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _check_open(self) -> asyncio.AbstractEventLoop:
        if self._failure is not None:
            raise SequencerFailedError("sequencer stopped after a failure") from self._failure
        if self._loop is None or self._closing:
            raise SequencerClosedError("sequencer is not running")
        return self._loop

    def submit(self, command: Command) -> asyncio.Future[list[Event]]:
        """Queue a command; the future resolves to its events once it is durable and applied.

        The command's place in the sequence is fixed by this call, not by awaiting the future.
        """
        future: asyncio.Future[list[Event]] = self._check_open().create_future()
        self._waiters.append((future, len(self._commands), _SINGLE))
        self._commands.append(command)
        self._wake()
        return future

    def submit_many(self, commands: Sequence[Command]) -> asyncio.Future[list[list[Event]]]:
        """Queue commands in order with one future for all: their events, one list per command."""
        future: asyncio.Future[list[list[Event]]] = self._check_open().create_future()
        if not commands:
            future.set_result([])
            return future
        self._waiters.append((future, len(self._commands), len(commands)))
        self._commands.extend(commands)
        self._wake()
        return future

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _run(self) -> None:
        assert self._loop is not None
        try:
            while True:
                if self._commands:
                    await self._batch()
                elif self._closing:
                    return
                else:
                    # Resuming takes one loop iteration, so everything submitted in this tick joins the batch.
                    self._wakeup = self._loop.create_future()
                    await self._wakeup
                    self._wakeup = None
        except BaseException as exc:
            self._fail(exc)
            if not isinstance(exc, Exception):
                raise

    async def _batch(self) -> None:
        assert self._loop is not None
        commands, self._in_flight = self._commands, self._waiters
        self._commands, self._waiters = [], []
        ts = max(self._clock(), self._last_ts)
        records = [(seq, ts, command) for seq, command in enumerate(commands, self._last_seq + 1)]
        self.journal.append(records)
        synced = self._start_sync()
        try:
            apply = self.engine.apply
            results = [apply(seq, ts, command) for seq, ts, command in records]
        finally:
            # Never leave the worker syncing behind our back, even if the engine failed.
            await asyncio.wait([synced])
        seconds = synced.result()
        if isinstance(self.journal, JournalWriter):  # synced by the helper, which only reports it
            self.journal.record_sync(seconds)
        self._last_seq, self._last_ts = records[-1][0], ts
        self.batches += 1
        for future, start, count in self._in_flight:
            if not future.done():
                future.set_result(results[start] if count == _SINGLE else results[start : start + count])
        self._in_flight = []
        if self._listeners:
            events = [event for events in results for event in events]
            for listener in self._listeners:
                try:
                    listener(events)
                except Exception:
                    logger.exception("sequencer listener %r failed; it keeps receiving events", listener)
        self._maybe_snapshot()

    def _start_sync(self) -> asyncio.Future[Any]:
        """Start making the appended records durable (a file journal's future has fdatasync's seconds)."""
        assert self._loop is not None
        journal = self.journal
        if self._sync_process is not None and isinstance(journal, JournalWriter):
            return self._sync_process.sync(journal.fileno(), journal.segment_first_seq)
        # Wait until the worker holds the GIL and is entering its sync (which releases it); otherwise it
        # would only start once this thread awaits, and the sync would not overlap the engine at all.
        started = threading.Event()
        synced = self._loop.run_in_executor(self._sync_thread, _sync, self.journal, started)
        started.wait()
        return synced

    def _fail(self, exc: BaseException) -> None:
        logger.critical("sequencer stopped at seq %d: %r", self._last_seq, exc)
        self._failure = exc
        error = SequencerFailedError(f"sequencer stopped after a failure: {exc!r}")
        error.__cause__ = exc
        for future, _, _ in self._in_flight + self._waiters:
            if not future.done():
                future.set_exception(error)
        self._in_flight, self._waiters, self._commands = [], [], []

    def _maybe_snapshot(self) -> None:
        if self.snapshots is None or self.snapshot_in_progress:
            return
        now = self._monotonic()
        if not self._schedule.due(self._last_seq, now):
            return
        assert self._loop is not None
        # Encode here, where the engine is quiet and exactly at a durable seq; write in a thread.
        payload = self.engine.snapshot()
        self._schedule.taken(self._last_seq, now)
        self._snapshot_future = self._loop.run_in_executor(
            self._snapshot_thread, self.snapshots.write, self._last_seq, payload
        )
        self._snapshot_future.add_done_callback(_log_snapshot_failure)


def _log_snapshot_failure(future: asyncio.Future[Any]) -> None:
    """A failed snapshot costs only recovery time: the journal still has every command."""
    exc = future.exception()
    if exc is not None:
        logger.error("snapshot write failed: %r", exc)


def _sync(journal: Journal, started: threading.Event) -> None:
    """Worker-thread side of a group commit."""
    started.set()
    journal.sync()
