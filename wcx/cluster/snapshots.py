"""Engine snapshots in the JetStream object store, so a new replica starts from a snapshot + the tail.

Object `engine-<seq:020d>`: `SnapshotMeta` (engine seq, stream seq of the log message that ends at
that seq, state hash, recent command ids) + `Engine.snapshot()` bytes. The newest `keep` are kept.
A snapshot whose restored state hash differs from its meta is skipped, never trusted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js.object_store import ObjectStore

from wcx.cluster import wire
from wcx.engine import Engine, SnapshotError

logger = logging.getLogger(__name__)

PREFIX = "engine-"


class SnapshotStore:
    """Writes, lists, prunes and loads engine snapshots in one object store bucket."""

    def __init__(self, store: ObjectStore, *, keep: int) -> None:
        self.store = store
        self.keep = keep

    async def seqs(self) -> list[int]:
        """Engine seqs of the stored snapshots, oldest first."""
        try:
            infos = await self.store.list()
        except nats.js.errors.NotFoundError:
            return []
        return sorted(
            int(info.name[len(PREFIX) :])
            for info in infos
            if info.name.startswith(PREFIX) and not info.deleted
        )

    async def put(self, meta: wire.SnapshotMeta, state: bytes) -> None:
        """Store a snapshot and prune all but the newest `keep`."""
        await self.store.put(f"{PREFIX}{meta.seq:020d}", wire.encode_snapshot(meta, state))
        for seq in (await self.seqs())[: -self.keep]:
            await self.store.delete(f"{PREFIX}{seq:020d}")

    async def load(self, *, at_most: int | None = None) -> tuple[wire.SnapshotMeta, Engine] | None:
        """The newest valid snapshot (at or before engine seq `at_most` if given), restored."""
        for seq in reversed(await self.seqs()):
            if at_most is not None and seq > at_most:
                continue
            try:
                result = await self.store.get(f"{PREFIX}{seq:020d}")
                meta, state = wire.decode_snapshot(result.data or b"")
                engine = await asyncio.to_thread(Engine.restore, state)
                if engine.state.last_seq != meta.seq or engine.state_hash() != meta.state_hash:
                    raise SnapshotError("restored state does not match the snapshot's seq and hash")
                return meta, engine
            except (SnapshotError, ValueError, nats.errors.Error, nats.js.errors.Error) as exc:
                logger.warning("skipping snapshot at seq %d: %r", seq, exc)
        return None


class SnapshotWriter:
    """The sequencer's snapshot writer: called in its snapshot thread, stores through the event loop."""

    def __init__(
        self,
        store: SnapshotStore,
        loop: asyncio.AbstractEventLoop,
        position_of: Callable[[int], int | None],
        dedup: Callable[[], list[tuple[str, int, list[object]]]],
    ) -> None:
        self.store = store
        self._loop = loop
        self._position_of = position_of
        self._dedup = dedup

    def write(self, seq: int, payload: bytes) -> None:
        """Store `payload` (the engine at `seq`) with its log position; blocks the calling thread."""
        state_hash = Engine.restore(payload).state_hash()
        asyncio.run_coroutine_threadsafe(self._write(seq, state_hash, payload), self._loop).result()

    async def _write(self, seq: int, state_hash: str, payload: bytes) -> None:
        stream_seq = self._position_of(seq)
        if stream_seq is None:
            logger.warning("no log position known for seq %d; snapshot skipped", seq)
            return
        # Taken now, on the loop: it may hold ids newer than `seq`, which the tail replay records again.
        meta = wire.SnapshotMeta(seq, stream_seq, state_hash, self._dedup())  # type: ignore[arg-type]
        await self.store.put(meta, payload)
        logger.info("snapshot at seq %d (stream seq %d) stored", seq, stream_seq)
