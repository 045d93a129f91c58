"""The projector in a process of its own: it follows the journal and writes SQL on another core.

The event loop of `wcx serve` is the exchange's bottleneck, and the projector's SQL work was a
sixth of it. In this mode the parent (`ProjectorProcess`) only says, after each durable batch, how
far the journal is durable: a 64-bit slot in shared memory and a doorbell byte on a pipe (dropped
when the pipe is full: the slot is the truth, the byte only wakes the child). The child runs the
same `Projector` as the in-process mode — SQL checkpoint, newest snapshot at or before it, scratch
engine, mirror — fed by a `JournalTail` that never reads past the durable seq, so SQL can never hold
what a power loss could take out of the journal. It writes its checkpoint back to shared memory,
which is what `checkpoint`, `lag_seq` and read-your-writes waits read. Its replica engine also
writes the server's engine snapshots (`SNAPSHOT_EVERY` / `SNAPSHOT_INTERVAL_S`), which the server's
own sequencer would otherwise encode on its event loop, stalling every request meanwhile.

Failures: the parent waits at start-up until the child has caught up with the journal (a
`ProjectionError` then stops start-up, as in process); later, a child that dies is restarted with
a backoff and resumes from its SQL checkpoint (the compare-and-set on the checkpoint row keeps a
straggler from writing twice). A child whose parent died exits after writing what is durable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import mmap
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from wcx.engine import Engine, Event, SnapshotError
from wcx.journal import (
    SNAPSHOT_EVERY,
    SNAPSHOT_INTERVAL_S,
    JournalTail,
    Record,
    SnapshotSchedule,
    SnapshotWriter,
    list_snapshots,
)
from wcx.store.db import create_blocking_engine, create_engine
from wcx.store.projector import PROJECTOR_LAG, Projector

logger = logging.getLogger(__name__)

DURABLE, CHECKPOINT, STOP, READY = range(4)
"""Slots of the shared state: durable seq (parent writes), checkpoint, stop request, caught up (child)."""
_SLOT = struct.Struct("<q")
RESTART_BACKOFF_S = (0.5, 10.0)
STOP_TIMEOUT_S = 60.0
START_TIMEOUT_S = 600.0
_IDLE_WAIT_S = 0.1
"""How long the idle child sleeps on the doorbell before it checks its parent and the stop flag."""
_READ_LIMIT = 4096
_LINGER_S = 0.005
"""Pause after catching up: one SQL transaction per ~5 ms instead of one per sequencer batch (CPU)."""


class ProjectorProcessError(RuntimeError):
    """The projector process could not catch up with the journal (its log says why)."""


class SharedState:
    """Four int64 slots in a shared mapping of an unnamed file, inherited by the child as a descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, 4 * _SLOT.size)

    @classmethod
    def create(cls) -> SharedState:
        """A zeroed state whose descriptor a child can inherit."""
        with tempfile.TemporaryFile() as file:
            fd = os.dup(file.fileno())
        os.ftruncate(fd, 4 * _SLOT.size)
        os.set_inheritable(fd, True)
        return cls(fd)

    def __getitem__(self, slot: int) -> int:
        return int(_SLOT.unpack_from(self._map, slot * _SLOT.size)[0])

    def __setitem__(self, slot: int, value: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, value)


class ProjectorProcess:
    """Parent side: spawn, feed the durable seq, read the checkpoint, restart on death, stop cleanly."""

    def __init__(
        self,
        database_url: str,
        journal_root: Path,
        *,
        log_level: str = "INFO",
        snapshots: tuple[int, float] = (SNAPSHOT_EVERY, SNAPSHOT_INTERVAL_S),
    ) -> None:
        self.database_url = database_url
        self.journal_root = journal_root
        self.log_level = log_level
        self.snapshots = snapshots
        """(every commands, interval seconds): the child writes the engine snapshots on this schedule."""
        self.restarts = 0
        self._shared = SharedState.create()
        self._bell_reader, self._bell_writer = os.pipe()
        os.set_blocking(self._bell_writer, False)
        weakref.finalize(self, _close_all, self._shared.fd, self._bell_reader, self._bell_writer)
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def checkpoint(self) -> int:
        """The last seq the child wrote to SQL (0 until it has read the checkpoint)."""
        return self._shared[CHECKPOINT]

    @property
    def lag_seq(self) -> int:
        """Durable seq minus the checkpoint."""
        return max(self._shared[DURABLE] - self.checkpoint, 0)

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._process.pid if self._process is not None else None

    def start(self, durable_seq: int) -> None:
        """Start the child over a journal durable up to `durable_seq` (recovered, nothing new yet)."""
        self._shared[DURABLE] = durable_seq
        self._stopping = False
        self._spawn()

    async def wait_caught_up(self, timeout: float = START_TIMEOUT_S, attempts: int = 3) -> None:
        """Wait until the child projected the journal as it was at start; raise if it keeps dying trying.

        A retry covers a straggler from a killed server finishing its last write (the new child's
        checkpoint compare-and-set then fails once); a real disagreement fails every attempt.
        """
        deadline = time.monotonic() + timeout
        for attempt in range(1, attempts + 1):
            while not self._shared[READY]:
                code = self._process.poll() if self._process is not None else -1
                if code is not None:
                    break
                if time.monotonic() > deadline:
                    raise ProjectorProcessError(f"projector process did not catch up within {timeout:.0f} s")
                await asyncio.sleep(0.01)
            else:
                self._supervisor = asyncio.create_task(self._supervise(), name="projector-process")
                return
            if attempt == attempts:
                raise ProjectorProcessError(f"projector process exited with status {code} while catching up")
            logger.warning("projector process exited with status %s while catching up; retrying", code)
            await asyncio.sleep(RESTART_BACKOFF_S[0] * attempt)
            self._spawn()

    def on_events(self, events: list[Event]) -> None:
        """Sequencer listener: the batch is durable through its last event's seq; wake the child."""
        if events:
            self._shared[DURABLE] = events[-1].seq
            self._ring()
            PROJECTOR_LAG.set(self.lag_seq)

    async def flush(self) -> None:
        """Wait until the child wrote everything durable so far."""
        target = self._shared[DURABLE]
        while self.checkpoint < target:
            if self._process is None:
                raise RuntimeError("projector process not running")
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        """Let the child write what is durable and exit (killed after `STOP_TIMEOUT_S`)."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        process, self._process = self._process, None
        if process is not None:
            self._shared[STOP] = 1
            self._ring()
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            if process.poll() is None:
                logger.error("projector process did not stop within %.0f s; killing it", STOP_TIMEOUT_S)
                process.kill()
                process.wait()
        PROJECTOR_LAG.set(self.lag_seq)

    def _spawn(self) -> None:
        self._shared[STOP] = 0
        self._shared[READY] = 0
        command = [sys.executable, "-m", __name__, str(self.journal_root)]
        command += ["--state-fd", str(self._shared.fd), "--doorbell-fd", str(self._bell_reader)]
        every, interval = self.snapshots
        command += ["--snapshot-every", str(every), "--snapshot-interval", str(interval)]
        # The URL may carry a password (DB_CREDS_PATH): the environment, unlike argv, is not world-readable.
        env = {**os.environ, "WCX_PROJECTOR_DATABASE_URL": self.database_url, "LOG_LEVEL": self.log_level}
        self._process = subprocess.Popen(
            command, env=env, pass_fds=(self._shared.fd, self._bell_reader), stdin=subprocess.DEVNULL
        )

    def _ring(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._bell_writer, b"\x01")

    async def _supervise(self) -> None:
        """Restart a child that died (it resumes from its SQL checkpoint); keep the lag gauge fresh."""
        backoff, limit = RESTART_BACKOFF_S
        while True:
            await asyncio.sleep(1.0)
            PROJECTOR_LAG.set(self.lag_seq)
            process = self._process
            if process is None or process.poll() is None or self._stopping:
                continue
            logger.error(
                "projector process exited with status %s at checkpoint %d; restarting in %.1f s",
                process.returncode,
                self.checkpoint,
                backoff,
            )
            await asyncio.sleep(backoff)
            self.restarts += 1
            self._spawn()
            backoff = min(backoff * 2, limit)


def _close_all(*fds: int) -> None:
    for fd in fds:
        os.close(fd)


# --- the child ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Entry point of the projector process (`python -m wcx.store.projector_process`, run by the parent)."""
    import uvloop

    from wcx.observability.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("journal_root", type=Path)
    parser.add_argument("--state-fd", type=int, required=True)
    parser.add_argument("--doorbell-fd", type=int, required=True)
    parser.add_argument("--snapshot-every", type=int, default=SNAPSHOT_EVERY)
    parser.add_argument("--snapshot-interval", type=float, default=SNAPSHOT_INTERVAL_S)
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    shared = SharedState(args.state_fd)
    url = os.environ["WCX_PROJECTOR_DATABASE_URL"]
    snapshots = _Snapshots(args.journal_root, args.snapshot_every, args.snapshot_interval)
    try:
        uvloop.run(_follow(url, args.journal_root, shared, args.doorbell_fd, snapshots))
    except Exception:
        logger.exception("projector process failed at checkpoint %d", shared[CHECKPOINT])
        raise SystemExit(2) from None


async def _follow(
    database_url: str, journal_root: Path, shared: SharedState, doorbell: int, snapshots: _Snapshots
) -> None:
    parent = os.getppid()
    db = create_engine(database_url)
    writer = create_blocking_engine(database_url)
    projector = Projector(db, writer=writer)
    try:
        base, base_seq = await projector.replay_base(journal_root)
        shared[CHECKPOINT] = projector.checkpoint
        tail = JournalTail(journal_root, base_seq + 1)
        try:
            await projector.catch_up(_durable(tail, shared), engine=base)
            shared[CHECKPOINT] = projector.checkpoint
            shared[READY] = 1
            while os.getppid() == parent:  # an orphan stops; the next server's child resumes from SQL
                records = tail.read(shared[DURABLE], _READ_LIMIT)
                if records:
                    await projector.project_records(records)
                    shared[CHECKPOINT] = projector.checkpoint
                    snapshots.maybe_write(projector.engine)
                    if len(records) < _READ_LIMIT:
                        # Caught up: let a few batches gather, so a transaction carries many of them.
                        await asyncio.sleep(_LINGER_S)
                elif shared[STOP] or not await _wait(doorbell):
                    return
        finally:
            tail.close()
    finally:
        await db.dispose()
        if writer is not None:
            writer.dispose()


class _Snapshots:
    """The engine snapshots of the server, written from this process's replica of its engine.

    The replica has applied exactly the durable commands up to its seq, so its snapshot is the one the
    server's engine would give at that seq, without stalling the server's event loop to encode it.
    """

    def __init__(self, journal_root: Path, every: int, interval: float) -> None:
        self._writer = SnapshotWriter(journal_root)
        newest = list_snapshots(journal_root)
        self._schedule = SnapshotSchedule(every, interval, newest[-1][0] if newest else 0, time.monotonic())

    def maybe_write(self, engine: Engine | None) -> None:
        """Write a snapshot of `engine` if one is due (a failure costs only recovery time: it is logged)."""
        now = time.monotonic()
        if engine is None or not self._schedule.due(engine.state.last_seq, now):
            return
        seq = engine.state.last_seq
        self._schedule.taken(seq, now)
        try:
            payload = engine.snapshot()
            self._writer.write(seq, payload)
        except (OSError, SnapshotError):
            logger.exception("snapshot at seq %d failed", seq)
            return
        logger.info(
            "snapshot at seq %d: %d bytes in %.1f ms", seq, len(payload), (time.monotonic() - now) * 1000
        )


def _durable(tail: JournalTail, shared: SharedState) -> Iterator[Record]:
    while records := tail.read(shared[DURABLE], _READ_LIMIT):
        yield from records


async def _wait(doorbell: int) -> bool:
    """Sleep until the parent rings or `_IDLE_WAIT_S` passes, empty the pipe; False if the parent is gone."""
    loop = asyncio.get_running_loop()
    rung: asyncio.Future[None] = loop.create_future()

    def ring() -> None:
        if not rung.done():
            rung.set_result(None)

    loop.add_reader(doorbell, ring)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rung, _IDLE_WAIT_S)
    finally:
        loop.remove_reader(doorbell)
    if not rung.done():
        return True
    # uvloop made the descriptor non-blocking, and readiness can be stale by the time we read.
    # End of file means the parent exited (the write end closed).
    try:
        return bool(os.read(doorbell, 65536))
    except BlockingIOError:
        return True


if __name__ == "__main__":
    main()
