"""A replica of the engine built from the log: snapshot from the object store + every batch after it.

Followers (hot-standby engines) and gateways (read models for balances, open orders, books) both
keep one. Applying a batch is the same pure `Engine.apply` the leader ran, so at the same seq every
replica has the leader's state hash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nats.js import JetStreamContext

from wcx.cluster import wire
from wcx.cluster.dedup import RecentCommands
from wcx.cluster.log import LogReader, last_stream_seq
from wcx.cluster.settings import ClusterSettings
from wcx.cluster.snapshots import SnapshotStore
from wcx.engine import Engine, Event

logger = logging.getLogger(__name__)

Listener = Callable[[list[Event]], object]


class LogDivergedError(RuntimeError):
    """The log cannot be applied in order (a gap, or an older term after a newer one)."""


class Replica:
    """Engine state following the log; `listeners` get each batch's events, like sequencer listeners."""

    def __init__(self, js: JetStreamContext, settings: ClusterSettings) -> None:
        self.js = js
        self.settings = settings
        self.engine = Engine()
        self.dedup = RecentCommands(settings.dedup_window)
        self.term = 0
        self.leader = ""
        self.stream_seq = 0
        self.last_ts = 0
        self.snapshot_seq = 0
        self.listeners: list[Listener] = []
        self._reader: LogReader | None = None
        self._seq_moved = asyncio.Event()

    async def load(self, snapshots: SnapshotStore | None) -> None:
        """Start from the newest valid snapshot (or an empty engine)."""
        found = await snapshots.load() if snapshots is not None else None
        self.engine, self.stream_seq = Engine(), 0
        self.dedup = RecentCommands(self.settings.dedup_window)
        if found is not None:
            meta, self.engine = found
            self.stream_seq, self.snapshot_seq = meta.stream_seq, meta.seq
            self.dedup.load(meta.dedup)
            logger.info("replica starts from snapshot seq %d (stream seq %d)", meta.seq, meta.stream_seq)

    async def follow(self) -> None:
        """Apply every log message after the current position, and keep following."""
        self._reader = LogReader(self.js, self.settings, self.apply_batch)
        await self._reader.start(self.stream_seq)

    async def catch_up(self, timeout: float | None = None) -> int:
        """Wait until the replica applied the log up to its current end; return that stream seq."""
        end = await last_stream_seq(self.js, self.settings)
        if self._reader is None:
            raise RuntimeError("replica is not following")
        await self._reader.wait_for(end, timeout)
        return end

    async def stop(self) -> None:
        """Stop following the log."""
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    @property
    def failure(self) -> BaseException | None:
        """Why the replica stopped applying, if it did."""
        return self._reader.error if self._reader is not None else None

    def apply_batch(self, stream_seq: int, batch: wire.LogBatch) -> None:
        """Apply one log message (called in stream order)."""
        if batch.term < self.term:
            raise LogDivergedError(
                f"stream seq {stream_seq}: term {batch.term} from {batch.node} after term {self.term}"
            )
        self.term, self.leader = batch.term, batch.node
        engine, dedup = self.engine, self.dedup
        events: list[Event] = []
        for (seq, ts, command), command_id in zip(batch.records, batch.ids, strict=True):
            last = engine.state.last_seq
            if seq <= last:
                continue  # already in the snapshot this replica started from
            if seq != last + 1:
                raise LogDivergedError(f"stream seq {stream_seq}: engine seq {seq} after {last}")
            out = engine.apply(seq, ts, command)
            dedup.record(command_id, seq, out)
            events += out
        if batch.records:
            self.last_ts = max(self.last_ts, batch.records[-1][1])
        self.stream_seq = stream_seq
        self._seq_moved.set()
        if events:
            for listener in self.listeners:
                try:
                    listener(events)
                except Exception:
                    logger.exception("replica listener %r failed; it keeps receiving events", listener)

    async def wait_for_seq(self, seq: int, timeout: float) -> bool:
        """Wait (bounded) until the engine applied seq `seq`; whether it did."""
        try:
            async with asyncio.timeout(timeout):
                while self.engine.state.last_seq < seq:
                    self._seq_moved.clear()
                    await self._seq_moved.wait()
        except TimeoutError:
            return False
        return True
