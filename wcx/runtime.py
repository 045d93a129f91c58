"""The running exchange in one process: database, journal + sequencer + engine, projector and stream bus.

`Runtime` is the one object the API apps share (`app.state.runtime`). It owns the data directory
through a lock file, so no second process (another server, `wcx dev credit`) writes the same journal.

With `JOURNAL_URL=nats://…` the command log lives on JetStream (`wcx.cluster`) and the runtime plays
one role: `engine` (a hot-standby engine node that leads when it holds the lease, and then also
runs the projector), `gateway` / `admin` / `wallet` (a replica of the engine for reads and the
cluster command port for writes), or `all` (an engine node and the API in one process). The API
only sees `submit`, `submit_many` and `engine`: the `CommandPort` is the local sequencer or the
cluster port.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import os
import time
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from prometheus_client import Counter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.bootstrap import setup_commands, tune_gc
from wcx.cluster import ClusterPort, ClusterSettings, EngineNode, load_cluster_settings
from wcx.config.markets import DEFAULT_MARKETS_FILE, load_reference_data
from wcx.config.settings import Settings
from wcx.engine import Command, Engine, Event, PlaceOrder
from wcx.engine.events import CommandRejected, OrderRejected
from wcx.kyc import KycService, create_kyc_service, load_kyc_settings
from wcx.marketdata.candles import Ohlcv
from wcx.observability.logging import get_logger
from wcx.observability.metrics import (
    ENGINE_ERRORS,
    ENGINE_REQUESTS,
    ORDER_PROCESSING_SECONDS,
    ORDERS_PROCESSED,
)
from wcx.sequencer import Sequencer, SequencerFailedError
from wcx.store import queries
from wcx.store.db import create_engine
from wcx.store.migrate import current_revision, upgrade
from wcx.store.projector import CHECKPOINT, Projector
from wcx.store.projector_process import ProjectorProcess
from wcx.store.schema import projector_checkpoints
from wcx.stream import Bus, Publisher, create_bus

log = get_logger(__name__)


@functools.cache
def _labelled(metric: Counter, value: str) -> Counter:
    """The metric's child for one label value, looked up once (`labels()` takes a lock and validates)."""
    return metric.labels(value)


LOCK_FILE = "wcx.lock"
LOCK_PROBE_GRACE_S = 0.5
PROJECTION_WAIT_S = 1.0
"""How long a history read waits for the projector to catch up before answering from what SQL has."""
SCHEMA_WAIT_S = 120.0
"""How long a gateway waits for an engine process to create the database schema."""
ROLES = ("all", "engine", "gateway", "admin", "wallet")


class CommandPort(Protocol):
    """What the API needs to change state: the local sequencer, or the cluster port to the leader."""

    @property
    def engine(self) -> Engine:
        """Engine state to read (on the event-loop thread)."""

    def submit(self, command: Command) -> Awaitable[list[Event]]:
        """Sequence one command; its events once durable."""

    def submit_many(self, commands: Sequence[Command]) -> Awaitable[list[list[Event]]]:
        """Sequence commands in order; their events, one list per command."""


class DataDirLockedError(RuntimeError):
    """Another process owns the data directory (its journal)."""


class DataDirLock:
    """An exclusive `flock` on `data_dir/wcx.lock`; the file also says where the owner serves its API."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirLockedError naming the owner."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        # `lock_is_held` probes by taking the lock for an instant; do not mistake a probe for an owner.
        deadline = time.monotonic() + LOCK_PROBE_GRACE_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    owner = read_lock_info(self.path.parent)
                    raise DataDirLockedError(f"{self.path.parent} is in use by {owner}") from None
                time.sleep(0.01)
        self._file = handle
        self.write_info(pid=os.getpid())

    def write_info(self, **info: Any) -> None:
        """Record facts about the owner (pid, API address) for other processes to read."""
        assert self._file is not None, "lock not held"
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(info))
        self._file.flush()

    def release(self) -> None:
        """Drop the lock (the file stays; its content is stale once unlocked)."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def read_lock_info(data_dir: Path) -> dict[str, Any]:
    """What the owner of `data_dir` wrote into its lock file ({} when unreadable)."""
    try:
        info = json.loads((data_dir / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def lock_is_held(data_dir: Path) -> bool:
    """Whether a running process owns `data_dir`."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class Runtime:
    """Settings → data dir lock → database (migrated) → recovered journal and engine → projector, bus.

    Listeners on the sequencer, in order: the projector (SQL history) and the stream publisher
    (WebSocket channels). Both are registered before anything new is sequenced, so they see every event.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        kyc: KycService | None = None,
        role: str = "all",
        cluster: ClusterSettings | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        self.cluster = cluster if cluster is not None else load_cluster_settings()
        if role != "all" and not self.cluster.enabled:
            raise ValueError(f"role {role!r} needs JOURNAL_URL=nats://… (the replicated command log)")
        self.role = role
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.db: AsyncEngine = create_engine(settings.resolved_database_url())
        self._recovered = False
        self.journal_dir = settings.journal_root
        self.bus: Bus = create_bus(settings.redis_url)
        self.projector: Projector | ProjectorProcess = (
            ProjectorProcess(
                settings.resolved_database_url(),
                self.journal_dir,
                log_level=settings.log_level,
                snapshots=(settings.snapshot_every, settings.snapshot_interval_s),
            )
            if settings.projector == "process" and not self.cluster.enabled
            else Projector(self.db)
        )
        self._publisher: Publisher | None = None
        self._lock = DataDirLock(self.data_dir)
        self._sequencer: Sequencer | None = None
        self._port: CommandPort | None = None
        self._node: EngineNode | None = None
        self._cluster_port: ClusterPort | None = None
        # The newest seq that produced events: commands without events (a cancel-all with nothing
        # open) advance the sequencer but never reach the projector's checkpoint.
        self._last_event_seq = 0
        self.kyc = kyc if kyc is not None else self._create_kyc()

    def _create_kyc(self) -> KycService:
        """The KYC service from KYC_* settings, in this runtime's environment and data directory."""
        kyc_settings = load_kyc_settings(wcx_env=self.settings.wcx_env, data_dir=self.data_dir)
        data = load_reference_data(self.settings.markets_file or DEFAULT_MARKETS_FILE)
        return create_kyc_service(kyc_settings, {asset.code: asset.scale for asset in data.assets})

    @property
    def sequencer(self) -> Sequencer:
        """The running sequencer (after `start`)."""
        if self._sequencer is None:
            raise RuntimeError("runtime not started")
        return self._sequencer

    @property
    def recovered(self) -> bool:
        """Journal recovered (or the log replica caught up), its sequencer not stopped by a failure and,
        on the cluster, still applying the log."""
        if not self._recovered:
            return False
        if self._sequencer is not None and self._sequencer.failure is not None:
            return False
        if self._node is not None and self._node.failure is not None:
            return False
        port = self._cluster_port
        return port is None or port.replica.failure is None

    @recovered.setter
    def recovered(self, value: bool) -> None:
        self._recovered = value

    @property
    def port(self) -> CommandPort:
        """Where commands go: the local sequencer, or the cluster leader."""
        if self._port is None:
            raise RuntimeError("runtime not started")
        return self._port

    @property
    def node(self) -> EngineNode | None:
        """This process's engine node (roles `engine` and `all` on JOURNAL_URL), else None."""
        return self._node

    @property
    def engine(self) -> Engine:
        """The live engine (or replica); read its state only on the event-loop thread, never mutate it."""
        return self.port.engine

    @property
    def publisher(self) -> Publisher:
        """The stream publisher (book snapshots and channel messages for WebSocket clients)."""
        if self._publisher is None:
            raise RuntimeError("runtime not started")
        return self._publisher

    @property
    def lock(self) -> DataDirLock:
        """The data directory lock this runtime holds while running."""
        return self._lock

    async def start(self) -> None:
        """Lock the data dir, migrate, recover the journal, set up a fresh exchange, start the pipeline."""
        if self.cluster.enabled:
            await self._start_clustered()
            return
        self._lock.acquire()
        try:
            await upgrade(self.db)
            await self._refresh_screening_lists()
            sequencer = Sequencer.open(self.journal_dir, **self._snapshot_options())
            self._sequencer = self._port = sequencer
            fresh = sequencer.last_seq == 0
            if isinstance(self.projector, ProjectorProcess):
                self.projector.start(sequencer.last_seq)  # catches up while the rest starts
            else:
                await self.projector.start_from_journal(self.journal_dir)
            sequencer.add_listener(self._note_events)
            sequencer.add_listener(self.projector.on_events)
            await self.bus.start()
            self._publisher = Publisher(sequencer.engine, self.bus)
            await self._publisher.start()
            sequencer.add_listener(self._publisher.on_events)
            await sequencer.start()
            if fresh:
                await self._set_up_reference_data()
            if isinstance(self.projector, ProjectorProcess):
                await self.projector.wait_caught_up()
            if not fresh:
                await self._seed_market_history(self._publisher)
            tune_gc()
            self._recovered = True
            log.info("runtime started", seq=sequencer.last_seq, data_dir=str(self.data_dir), fresh=fresh)
        except BaseException:
            await self.stop()
            raise

    def _snapshot_options(self) -> dict[str, Any]:
        """The sequencer's snapshot schedule: none when the projector process takes them off this loop."""
        if isinstance(self.projector, ProjectorProcess):
            # Encoding a deep book stalls the loop (~100 ms at 36k orders); the child's replica is
            # at the same seqs, so it writes them instead.
            return {"snapshot_every": None, "snapshot_interval": None}
        settings = self.settings
        return {"snapshot_every": settings.snapshot_every, "snapshot_interval": settings.snapshot_interval_s}

    async def _refresh_screening_lists(self) -> None:
        """Record the screening lists' digests; a changed list re-screens every approved user."""
        lists = list(self.kyc.screener.lists.values())
        async with self.db.begin() as connection:
            changed, reopened = await self.kyc.refresh_lists(connection, lists)
        if changed:
            log.info("screening lists loaded", changed=changed, reopened=reopened)

    async def _start_clustered(self) -> None:
        """The roles on JOURNAL_URL: an engine node (engine, all) and/or the cluster port (all but engine)."""
        try:
            runs_engine = self.role in ("engine", "all")
            if runs_engine:
                await upgrade(self.db)
                await self._refresh_screening_lists()
                node = self._node = EngineNode(
                    self.cluster, bootstrap=self._reference_commands, projector=lambda: Projector(self.db)
                )
                node.listeners.append(self._note_events)
                await node.start()
            else:
                await self._wait_for_schema()
            port = self._cluster_port = self._port = ClusterPort(self.cluster, node=self._node)
            await port.start()
            if self._node is None:
                port.add_listener(self._note_events)
            if self.role != "engine":
                await self.bus.start()
                self._publisher = Publisher(port.engine, self.bus)
                await self._publisher.start()
                port.add_listener(self._publisher.on_events)
            tune_gc()
            self._recovered = True
            log.info(
                "runtime started", role=self.role, node=self.cluster.node_id, seq=self.engine.state.last_seq
            )
        except BaseException:
            await self.stop()
            raise

    def _reference_commands(self) -> list[Command]:
        return setup_commands(load_reference_data(self.settings.markets_file or DEFAULT_MARKETS_FILE))

    async def _wait_for_schema(self) -> None:
        """Gateways do not migrate: an engine process does; wait until it has."""
        deadline = time.monotonic() + SCHEMA_WAIT_S
        while True:
            try:
                if await current_revision(self.db) is not None:
                    return
            except Exception:
                log.info("database not ready yet", exc_info=True)
            if time.monotonic() >= deadline:
                raise RuntimeError("the database has no schema; start an engine process (it migrates)")
            await asyncio.sleep(0.5)

    async def _set_up_reference_data(self) -> None:
        results = await self.sequencer.submit_many(self._reference_commands())
        refused = [e for events in results for e in events if isinstance(e, CommandRejected)]
        if refused:
            raise RuntimeError(f"reference data refused by the engine: {refused}")

    async def stop(self) -> None:
        """Drain the sequencer, close the database, release the data dir."""
        self._recovered = False
        if self._sequencer is not None:
            await self._sequencer.stop()
            self._sequencer = None
        if self._cluster_port is not None:
            await self._cluster_port.stop()
            self._cluster_port = None
        if self._node is not None:
            await self._node.stop()  # stops the projector it ran as leader
        self._port = None
        await self.projector.stop()
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None
        await self.bus.close()
        await self.db.dispose()
        if not self.cluster.enabled:
            self._lock.release()

    async def submit(self, command: Command) -> list[Event]:
        """Sequence one command and wait for its durable events (counted and timed in the metrics)."""
        _labelled(ENGINE_REQUESTS, type(command).__name__).inc()
        started = time.perf_counter()
        try:
            events = await self.port.submit(command)
        except SequencerFailedError:
            _labelled(ENGINE_ERRORS, "sequencer_failed").inc()
            raise
        if isinstance(command, PlaceOrder):
            ORDER_PROCESSING_SECONDS.observe(time.perf_counter() - started)
        for event in events:
            if isinstance(event, OrderRejected | CommandRejected):
                _labelled(ENGINE_ERRORS, event.code.value).inc()
        if isinstance(command, PlaceOrder):
            rejected = any(isinstance(e, OrderRejected) for e in events)
            _labelled(ORDERS_PROCESSED, "rejected" if rejected else "accepted").inc()
        return events

    async def submit_many(self, commands: Sequence[Command]) -> list[list[Event]]:
        """Sequence several commands in order (one durable batch)."""
        return await self.port.submit_many(commands)

    def _note_events(self, events: list[Event]) -> None:
        if events:
            self._last_event_seq = events[-1].seq

    async def projected(self, timeout: float = PROJECTION_WAIT_S) -> bool:
        """Wait (bounded) until SQL history holds every event sequenced so far: read-your-writes."""
        target = self._last_event_seq
        deadline = time.monotonic() + timeout
        checkpoint = self.projector.checkpoint
        while checkpoint < target:
            if time.monotonic() >= deadline:
                return False
            if self.cluster.enabled:
                # The projector runs in the leading engine process: ask SQL how far it got.
                await asyncio.sleep(0.005)
                checkpoint = max(checkpoint, await self._sql_checkpoint())
            else:
                await asyncio.sleep(0.002)
                checkpoint = self.projector.checkpoint
        return True

    async def _seed_market_history(self, publisher: Publisher) -> None:
        """Start the WebSocket ticker and candles from SQL history: SQL holds every trade up to the
        publisher's seq (else a restart would show a market's 24 h ticker empty until its next trade)."""
        seq = publisher.last_seq
        if self.projector.checkpoint != seq:
            log.warning("market history not seeded", checkpoint=self.projector.checkpoint, seq=seq)
            return
        now = time.time_ns()
        for symbol in self.engine.state.markets:
            minutes, current = await queries.market_history(self.db, symbol, now)
            if publisher.last_seq != seq:  # a trade meanwhile would be counted from SQL and from memory
                log.warning("market history seeding stopped by new events", seq=publisher.last_seq)
                return
            publisher.seed_history(
                symbol,
                [(candle.open_time, Ohlcv.of_stored(candle)) for candle in minutes],
                {candle.interval: (candle.open_time, Ohlcv.of_stored(candle)) for candle in current},
            )

    async def _sql_checkpoint(self) -> int:
        async with self.db.connect() as connection:
            seq = await connection.scalar(
                select(projector_checkpoints.c.seq).where(projector_checkpoints.c.name == CHECKPOINT)
            )
        return int(seq or 0)

    async def database_ready(self) -> bool:
        """Whether the database answers `SELECT 1`."""
        try:
            async with self.db.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            log.warning("database not reachable", exc_info=True)
            return False
        return True
