"""An engine node: a hot standby that follows the log, takes the lease when the leader goes quiet,
and leads — sequencing gateway commands onto the log — until it stops or is deposed.

Taking over: take the lease (its revision is the new term), apply the log to its end, append the
term marker right after the last message seen (if the old leader appended meanwhile, apply that and
try again), then sequence with `JetStreamJournal`, whose every append names the stream seq it
follows. A deposed leader's next append is refused by the server; it then stops for good (exit and
let the supervisor restart it as a follower): its engine applied commands the log never got.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from sqlalchemy.exc import SQLAlchemyError

from wcx.cluster import wire
from wcx.cluster.lease import Lease, LeaseLostError
from wcx.cluster.log import (
    FencedError,
    JetStreamJournal,
    connect,
    ensure_log,
    last_stream_seq,
    lease_bucket,
    publish_batch,
    read_batches,
    snapshot_bucket,
)
from wcx.cluster.replica import Listener, Replica
from wcx.cluster.settings import ClusterSettings
from wcx.cluster.snapshots import SnapshotStore, SnapshotWriter
from wcx.engine import Command, Engine, Event
from wcx.sequencer import Sequencer, SequencerClosedError, SequencerFailedError
from wcx.store.projector import ProjectionError, Projector

logger = logging.getLogger(__name__)

NOT_LEADER = "not_leader"
BAD_REQUEST = "bad_request"
_ACCOUNT_FIELDS = ("account", "maker_account", "taker_account")
PROJECTION_CHECK_S = 0.2

Outcome = tuple[int, list[Event]]


class DeposedError(RuntimeError):
    """This node led and lost the lease or the log; it must stop (and restart as a follower)."""


class NotLeaderError(RuntimeError):
    """This node is not the leader (any more)."""


class EngineNode:
    """Follower, then leader of the engine group named by the cluster settings."""

    def __init__(
        self,
        settings: ClusterSettings,
        *,
        bootstrap: Callable[[], Sequence[Command]] = tuple,
        projector: Callable[[], Projector] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.role = "starting"
        self.term = 0
        self.listeners: list[Listener] = []
        self.failure: BaseException | None = None
        self.stopped = asyncio.Event()
        self.led_at: float | None = None
        self._bootstrap = bootstrap
        self._new_projector = projector
        self._projector: Projector | None = None
        self._projection: asyncio.Task[None] | None = None
        self._clock = clock
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._replica: Replica | None = None
        self._lease: Lease | None = None
        self._snapshots: SnapshotStore | None = None
        self._sequencer: Sequencer | None = None
        self._journal: JetStreamJournal | None = None
        self._inflight: dict[str, asyncio.Future[Outcome]] = {}
        self._subs: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[list[tuple[str, bytes]]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None

    # --- parts ---------------------------------------------------------------------------------------

    @property
    def nc(self) -> NatsClient:
        """The node's NatsClient connection."""
        assert self._nc is not None, "node not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """The node's JetStream context."""
        assert self._js is not None, "node not started"
        return self._js

    @property
    def replica(self) -> Replica:
        """The node's engine replica (its engine is the one the leader's sequencer drives)."""
        assert self._replica is not None, "node not started"
        return self._replica

    @property
    def engine(self) -> Engine:
        """The node's engine; read it only on the event-loop thread."""
        return self.replica.engine

    @property
    def is_leader(self) -> bool:
        """Whether this node is the running leader."""
        return self.role == "leader" and self.failure is None

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, create the stream and buckets if missing, load the newest snapshot, follow the log."""
        self._nc = await connect(self.settings, name=f"wcx-engine-{self.node_id}")
        self._js = self._nc.jetstream(timeout=self.settings.publish_timeout_s)
        await ensure_log(self.js, self.settings)
        kv = await lease_bucket(self.js, self.settings)
        self._snapshots = SnapshotStore(
            await snapshot_bucket(self.js, self.settings), keep=self.settings.snapshot_keep
        )
        self._lease = Lease(
            kv,
            node=self.node_id,
            submit=self.settings.submit_subject(self.node_id),
            ttl=self.settings.lease_ttl_s,
        )
        replica = self._replica = Replica(self.js, self.settings)
        await replica.load(self._snapshots)
        replica.listeners = self.listeners
        await replica.follow()
        self.role = "follower"
        for subject in (self.settings.status_subject(self.node_id), self.settings.status_all_subject):
            self._subs.append(await self.nc.subscribe(subject, cb=self._on_status))
        self._publisher = asyncio.create_task(self._publish_events(), name="wcx-cluster-events")
        self._task = asyncio.create_task(self._run(), name="wcx-engine-node")
        logger.info("engine node %s following the log from stream seq %d", self.node_id, replica.stream_seq)

    async def stop(self) -> None:
        """Stop: a leader drains its sequencer and releases the lease so a follower takes over at once."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for sub in self._subs:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()
        self._subs = []
        was_leader = self.role == "leader"
        self.role = "stopped"
        if self._sequencer is not None:
            await self._sequencer.stop()
            self._sequencer = None
        if was_leader and self.failure is None and self._lease is not None:
            await self._lease.release()
        if self._projection is not None:
            self._projection.cancel()
            await asyncio.gather(self._projection, return_exceptions=True)
        if self._projector is not None:
            try:
                await self._projector.stop()
            except Exception:
                logger.exception("projector stopped with a failure")
        if self._replica is not None:
            await self._replica.stop()
        if self._publisher is not None:
            await self._outbox.join()
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.drain()
        self.stopped.set()

    async def _run(self) -> None:
        assert self._lease is not None
        lease = self._lease
        try:
            while True:
                if self.role == "follower":
                    if self.replica.failure is not None:
                        raise self.replica.failure
                    if await _quietly(lease.try_acquire(), default=False):
                        await self._lead()
                else:
                    self._check_leading()
                    try:
                        await lease.renew()
                    except LeaseLostError as exc:
                        raise DeposedError(str(exc)) from None
                    except (nats.errors.Error, nats.js.errors.Error) as exc:
                        if lease.expired():
                            raise DeposedError(f"lease not renewed for {lease.ttl}s: {exc!r}") from None
                        logger.warning("lease renewal failed (%r); retrying", exc)
                await self._pause()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail(exc)

    async def _pause(self) -> None:
        """Sleep one renewal period; a leader wakes early when its journal was fenced."""
        fenced = self._journal.fenced if self._journal is not None else None
        if fenced is None:
            await asyncio.sleep(self.settings.lease_renew_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fenced.wait(), self.settings.lease_renew_s)

    def _check_leading(self) -> None:
        journal = self._journal
        if journal is not None and journal.fenced.is_set():
            raise DeposedError(f"term {self.term}: log append refused: {journal.failed!r}")

    def _fail(self, exc: BaseException) -> None:
        was = self.role
        self.failure = exc
        self.role = "deposed" if was == "leader" else "failed"
        logger.critical("engine node %s (%s, term %d) stops: %r", self.node_id, was, self.term, exc)
        for sub in self._subs:
            # Refuse at once instead of letting gateways time out on a node that cannot lead.
            with contextlib.suppress(nats.errors.Error):
                asyncio.get_running_loop().create_task(sub.unsubscribe())
        self.stopped.set()

    # --- taking over ---------------------------------------------------------------------------------

    async def _lead(self) -> None:
        assert self._lease is not None and self._snapshots is not None
        started = time.monotonic()
        term = self.term = self._lease.term
        replica = self.replica
        self.role = "candidate"
        logger.warning("engine node %s took the lease: term %d; catching up", self.node_id, term)
        await replica.catch_up(timeout=max(self.settings.lease_ttl_s * 4, 10.0))
        await replica.stop()
        marker = wire.LogBatch(term, self.node_id, [], [])
        while True:
            try:
                marker_seq = await publish_batch(
                    self.js, self.settings, marker, replica.stream_seq, f"{term}.term"
                )
                break
            except FencedError:
                # The old leader appended after we caught up: apply that too, then claim the next slot.
                end = await last_stream_seq(self.js, self.settings)
                for stream_seq, batch in await read_batches(self.js, self.settings, replica.stream_seq, end):
                    replica.apply_batch(stream_seq, batch)
        replica.apply_batch(marker_seq, marker)
        engine = replica.engine
        loop = asyncio.get_running_loop()
        journal = self._journal = JetStreamJournal(
            self.js,
            self.settings,
            loop,
            term=term,
            node=self.node_id,
            last_seq=engine.state.last_seq,
            last_ts=replica.last_ts,
            stream_seq=marker_seq,
        )
        writer = SnapshotWriter(self._snapshots, loop, journal.position_of, replica.dedup.export)  # type: ignore[arg-type]
        sequencer = self._sequencer = Sequencer(
            engine,
            journal,
            clock=self._clock,
            snapshots=writer,  # type: ignore[arg-type]
            snapshot_every=self.settings.snapshot_every,
            snapshot_interval=None,
        )
        sequencer.add_listener(self._after_batch)
        await sequencer.start()
        if self._new_projector is not None:
            self._projection = asyncio.create_task(self._project(), name="wcx-cluster-projection")
        self._subs.append(
            await self.nc.subscribe(self.settings.submit_subject(self.node_id), cb=self._on_submit)
        )
        self.role = "leader"
        self.led_at = time.monotonic()
        logger.warning(
            "engine node %s leads term %d from seq %d (stream seq %d) after %.3fs",
            self.node_id,
            term,
            engine.state.last_seq,
            marker_seq,
            self.led_at - started,
        )
        if engine.state.last_seq == 0:
            commands = list(self._bootstrap())
            if commands:
                await self.submit(commands, [""] * len(commands))

    async def _project(self) -> None:
        """Keep SQL projected while leading, resuming from the checkpoint; restart when it moved under us.

        Runs beside the sequencer, never in front of it: a paused old leader can hold the checkpoint
        row locked, and taking over must not wait for it. When the old leader's last write lands
        first, the checkpoint moved and the projector fails its compare-and-set: start again from there
        (everything it wrote came from acknowledged log batches, so nothing is lost or doubled).
        """
        assert self._new_projector is not None and self._sequencer is not None
        sequencer = self._sequencer
        while True:
            projector = self._projector = self._new_projector()
            # Queue events from now on; those the catch-up also covers are skipped by seq.
            sequencer.add_listener(projector.on_events)
            try:
                await self._resume(projector)
                while True:
                    await projector.flush()
                    await asyncio.sleep(PROJECTION_CHECK_S)
            except (
                ProjectionError,
                SQLAlchemyError,
                OSError,
                nats.errors.Error,
                nats.js.errors.Error,
            ) as exc:
                logger.warning("projection restarts from the SQL checkpoint: %r", exc)
            finally:
                sequencer.remove_listener(projector.on_events)
            with contextlib.suppress(ProjectionError, SQLAlchemyError, OSError):
                await projector.stop()
            self._projector = None
            await asyncio.sleep(PROJECTION_CHECK_S)

    async def _resume(self, projector: Projector) -> None:
        """Project the log from the SQL checkpoint to its current end: from a snapshot at or before it."""
        assert self._snapshots is not None and self._journal is not None
        through = self._journal.stream_seq
        checkpoint = await projector.read_checkpoint()
        found = await self._snapshots.load(at_most=checkpoint)
        base, after = (found[1], found[0].stream_seq) if found is not None else (None, 0)
        records = [
            record
            for _, batch in await read_batches(self.js, self.settings, after, through)
            for record in wire.records_of(batch)
        ]
        await projector.start(records, engine=base)
        logger.info("projector resumed at checkpoint %d (%d log records read)", checkpoint, len(records))

    # --- leading -------------------------------------------------------------------------------------

    def _enqueue(self, command_id: str, command: Command) -> asyncio.Future[Outcome]:
        """The outcome of a command: remembered, in flight, or newly sequenced."""
        loop = asyncio.get_running_loop()
        known = self.replica.dedup.get(command_id) if command_id else None
        if known is not None:
            done: asyncio.Future[Outcome] = loop.create_future()
            done.set_result(known)
            return done
        pending = self._inflight.get(command_id) if command_id else None
        if pending is not None:
            return pending
        sequencer, journal = self._sequencer, self._journal
        if not self.is_leader or sequencer is None or journal is None:
            raise NotLeaderError(self.node_id)
        try:
            events_future = sequencer.submit(command)
        except (SequencerClosedError, SequencerFailedError) as exc:
            raise NotLeaderError(str(exc)) from None
        journal.ids.append(command_id)
        outcome: asyncio.Future[Outcome] = loop.create_future()
        if command_id:
            self._inflight[command_id] = outcome

        def resolved(future: asyncio.Future[list[Event]]) -> None:
            self._inflight.pop(command_id, None)
            if future.exception() is not None:
                outcome.set_exception(NotLeaderError(repr(future.exception())))
                return
            events = future.result()
            seq = events[-1].seq if events else sequencer.last_seq
            self.replica.dedup.record(command_id, seq, events)
            outcome.set_result((seq, events))

        events_future.add_done_callback(resolved)
        return outcome

    async def submit(self, commands: Sequence[Command], ids: Sequence[str]) -> wire.SubmitReply:
        """Sequence commands (deduplicated by id) and wait until they are on the log and applied."""
        outcomes = [
            self._enqueue(command_id, command) for command_id, command in zip(ids, commands, strict=True)
        ]
        results = await asyncio.gather(*outcomes)
        return wire.SubmitReply(
            seq=max((seq for seq, _ in results), default=0), events=[e for _, e in results]
        )

    async def _on_submit(self, msg: Msg) -> None:
        try:
            request = wire.decode_request(msg.data)
            if len(request.ids) != len(request.commands):
                raise ValueError("one id per command")
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            await msg.respond(wire.encode(wire.SubmitReply(error=f"{BAD_REQUEST}: {exc}")))
            return
        try:
            outcomes = [self._enqueue(i, c) for i, c in zip(request.ids, request.commands, strict=True)]
        except NotLeaderError:
            await msg.respond(wire.encode(wire.SubmitReply(error=NOT_LEADER)))
            return
        # Answer in a task: this callback must return so the next request joins the same batch.
        asyncio.get_running_loop().create_task(self._answer(msg, outcomes))

    async def _answer(self, msg: Msg, outcomes: list[asyncio.Future[Outcome]]) -> None:
        try:
            results = await asyncio.gather(*outcomes)
            reply = wire.SubmitReply(seq=max(seq for seq, _ in results), events=[e for _, e in results])
        except NotLeaderError:
            reply = wire.SubmitReply(error=NOT_LEADER)
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(wire.encode(reply))

    def _after_batch(self, events: list[Event]) -> None:
        """Sequencer listener: hand the durable events on, and queue them for the events subjects."""
        for listener in self.listeners:
            try:
                listener(events)
            except Exception:
                logger.exception("node listener %r failed; it keeps receiving events", listener)
        by_subject: dict[str, list[Event]] = {}
        subject = self.settings.events_subject
        for event in events:
            symbol = getattr(event, "symbol", "")
            if symbol:
                by_subject.setdefault(subject("market", symbol), []).append(event)
            for name in _ACCOUNT_FIELDS:
                account = getattr(event, name, None)
                if account is not None:
                    by_subject.setdefault(subject("account", str(account)), []).append(event)
        if by_subject:
            self._outbox.put_nowait([(name, wire.encode(batch)) for name, batch in by_subject.items()])

    async def _publish_events(self) -> None:
        """Publish queued event groups in order (core NatsClient: live fan-out; the log stays the record)."""
        while True:
            messages = await self._outbox.get()
            try:
                for subject, payload in messages:
                    await self.nc.publish(subject, payload)
            except nats.errors.Error as exc:
                logger.warning("events not published: %r", exc)
            finally:
                self._outbox.task_done()

    async def _on_status(self, msg: Msg) -> None:
        replica = self.replica
        stream_seq = (
            self._journal.stream_seq if self.role == "leader" and self._journal else replica.stream_seq
        )
        status = wire.NodeStatus(
            self.node_id, self.role, self.term or replica.term, replica.engine.state.last_seq, stream_seq,
            replica.engine.state_hash(),
        )  # fmt: skip
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(wire.encode(status))


async def _quietly(coroutine: object, *, default: bool) -> bool:
    """Await a lease call; NatsClient trouble counts as "no" (the next round tries again)."""
    try:
        return bool(await coroutine)  # type: ignore[misc]
    except (nats.errors.Error, nats.js.errors.Error) as exc:
        logger.warning("lease check failed: %r", exc)
        return default
