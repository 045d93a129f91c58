"""The command log on a JetStream stream: set-up, the fenced leader journal, and reading it back.

One stream (`<NAME>_LOG`, one subject) holds `LogBatch` messages: each leader group commit is one
message, and a new leader's first message is its term marker (a batch without records). Every
append names the stream sequence it expects to follow (`Nats-Expected-Last-Sequence`): a leader
that missed another leader's append — because it was deposed while paused — is refused by the
server and can never fork the log. `Nats-Msg-Id` (term + first seq) makes a retried append after a
lost acknowledgement idempotent within the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from wcx.cluster import wire
from wcx.cluster.settings import ClusterSettings
from wcx.journal import Record

logger = logging.getLogger(__name__)

T = TypeVar("T")
WRONG_LAST_SEQUENCE = 10071
STALL_CHECK_S = 3.0
"""A log reader that made no progress for this long while the log grew resubscribes from its position."""
DUPLICATE_WINDOW_S = 120.0
_RETRYABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
)


class FencedError(RuntimeError):
    """The log moved on without this leader: it has been deposed and must not append."""


class LogUnavailableError(RuntimeError):
    """JetStream did not acknowledge an append within the publish deadline."""


async def retrying(call: Callable[[], Awaitable[T]], *, deadline_s: float, what: str) -> T:
    """A JetStream API call retried while servers fail over (timeouts, no responders, 503)."""
    deadline = time.monotonic() + deadline_s
    delay = 0.05
    while True:
        try:
            return await call()
        except _RETRYABLE as exc:
            if time.monotonic() >= deadline:
                raise
            logger.warning("%s failed (%r); retrying", what, exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def connect(settings: ClusterSettings, *, name: str) -> NatsClient:
    """A NatsClient connection to JOURNAL_URL that reconnects for ever (across a NatsClient node failing)."""
    return await nats.connect(
        servers=settings.servers,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.25,
        max_reconnect_attempts=-1,
        ping_interval=5,
        max_outstanding_pings=2,
    )


async def _ensure(create: Callable[[], object], lookup: Callable[[], object]) -> object:
    """Look a JetStream asset up, create it when missing; a concurrent creator is not an error."""
    try:
        return await lookup()  # type: ignore[misc]
    except nats.js.errors.NotFoundError:
        pass
    try:
        return await create()  # type: ignore[misc]
    except nats.js.errors.BadRequestError:
        return await lookup()  # type: ignore[misc]


async def ensure_log(js: JetStreamContext, settings: ClusterSettings) -> None:
    """Create the command log stream if it does not exist yet."""
    config = api.StreamConfig(
        name=settings.stream,
        subjects=[settings.log_subject],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        num_replicas=settings.log_replicas,
        duplicate_window=DUPLICATE_WINDOW_S,
        discard=api.DiscardPolicy.NEW,
    )
    await _ensure(lambda: js.add_stream(config), lambda: js.stream_info(settings.stream))


async def lease_bucket(js: JetStreamContext, settings: ClusterSettings) -> KeyValue:
    """The KV bucket of the leader lease (created if missing)."""
    config = api.KeyValueConfig(
        bucket=settings.lease_bucket, history=1, storage=api.StorageType.FILE, replicas=settings.log_replicas
    )
    await _ensure(lambda: js.create_key_value(config), lambda: js.key_value(settings.lease_bucket))
    return await js.key_value(settings.lease_bucket)


async def snapshot_bucket(js: JetStreamContext, settings: ClusterSettings) -> ObjectStore:
    """The object store bucket of engine snapshots (created if missing)."""
    config = api.ObjectStoreConfig(
        bucket=settings.snapshot_bucket, storage=api.StorageType.FILE, replicas=settings.log_replicas
    )
    await _ensure(
        lambda: js.create_object_store(settings.snapshot_bucket, config=config),
        lambda: js.object_store(settings.snapshot_bucket),
    )
    return await js.object_store(settings.snapshot_bucket)


async def last_stream_seq(js: JetStreamContext, settings: ClusterSettings) -> int:
    """The stream sequence of the newest log message (0 for an empty log)."""
    info = await retrying(
        lambda: js.stream_info(settings.stream), deadline_s=settings.publish_deadline_s, what="stream info"
    )
    return int(info.state.last_seq)


async def publish_batch(
    js: JetStreamContext, settings: ClusterSettings, batch: wire.LogBatch, after: int, msg_id: str
) -> int:
    """Append `batch` right after stream seq `after`; return its stream seq.

    Retries timeouts and unavailable servers with the same message id (a lost acknowledgement is
    answered as a duplicate) until the publish deadline; raises FencedError when the log is past `after`.
    """
    headers = {api.Header.MSG_ID: msg_id, api.Header.EXPECTED_LAST_SEQUENCE: str(after)}
    payload = wire.encode(batch)
    deadline = time.monotonic() + settings.publish_deadline_s
    delay = 0.05
    while True:
        try:
            ack = await js.publish(
                settings.log_subject,
                payload,
                timeout=settings.publish_timeout_s,
                stream=settings.stream,
                headers=dict(headers),
            )
            return int(ack.seq)
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise FencedError(f"log is past stream seq {after}: {exc.description}") from None
            if exc.code is None or exc.code < 500:
                raise
            error: Exception = exc
        except _RETRYABLE as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise LogUnavailableError(f"append after stream seq {after} not acknowledged: {error!r}")
        logger.warning("log append after stream seq %d failed (%r); retrying", after, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


class JetStreamJournal:
    """The sequencer's journal on JetStream: `sync` publishes the batch and returns after the ack.

    `ids` is fed by the leader with each submitted command's id, in submission order; `append` takes
    one id per record, so each log batch carries the ids of its commands.
    """

    def __init__(
        self,
        js: JetStreamContext,
        settings: ClusterSettings,
        loop: asyncio.AbstractEventLoop,
        *,
        term: int,
        node: str,
        last_seq: int,
        last_ts: int,
        stream_seq: int,
    ) -> None:
        self.js = js
        self.settings = settings
        self.term = term
        self.node = node
        self.last_seq = last_seq
        self.last_ts = last_ts
        self.stream_seq = stream_seq
        self.ids: deque[str] = deque()
        self.fenced = asyncio.Event()
        self.failed: BaseException | None = None
        self._loop = loop
        self._pending: list[wire.LogBatch] = []
        self._positions: deque[tuple[int, int]] = deque(maxlen=4096)

    def append(self, records: Sequence[Record]) -> None:
        """Stage records (one id each from `ids`) as log batches of at most `max_batch` commands."""
        ids = [self.ids.popleft() if self.ids else "" for _ in records]
        step = self.settings.max_batch
        for start in range(0, len(records), step):
            chunk = [tuple(record) for record in records[start : start + step]]
            self._pending.append(wire.LogBatch(self.term, self.node, chunk, ids[start : start + step]))  # type: ignore[arg-type]
        self.last_seq, self.last_ts = records[-1][0], records[-1][1]

    def sync(self) -> None:
        """Publish the staged batches and wait for their acks (runs in the sequencer's worker thread)."""
        batches, self._pending = self._pending, []
        asyncio.run_coroutine_threadsafe(self._publish(batches), self._loop).result()

    async def _publish(self, batches: list[wire.LogBatch]) -> None:
        try:
            for batch in batches:
                first = batch.records[0][0]
                seq = await publish_batch(
                    self.js, self.settings, batch, self.stream_seq, f"{self.term}.{first}"
                )
                self.stream_seq = seq
                self._positions.append((batch.records[-1][0], seq))
        except BaseException as exc:
            # The engine already applied these commands: this leader's state is now ahead of the log.
            self.failed = exc
            self.fenced.set()
            raise

    def position_of(self, seq: int) -> int | None:
        """The stream seq of the log message that ends with engine seq `seq` (recent batches only)."""
        for last, stream_seq in reversed(self._positions):
            if last == seq:
                return stream_seq
            if last < seq:
                return None
        return None

    def close(self) -> None:
        """Nothing to release: the connection belongs to the node."""


class LogReader:
    """Follows the log from a stream seq with an ordered push consumer, handing batches on in order."""

    def __init__(
        self,
        js: JetStreamContext,
        settings: ClusterSettings,
        on_batch: Callable[[int, wire.LogBatch], None],
    ) -> None:
        self.js = js
        self.settings = settings
        self.on_batch = on_batch
        self.position = 0
        self._sub: JetStreamContext.PushSubscription | None = None
        self._moved = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def start(self, after: int) -> None:
        """Deliver every message after stream seq `after`, then keep following."""
        self.position = after
        await self._subscribe()
        self._watchdog = asyncio.create_task(self._watch(), name="wcx-log-reader-watchdog")

    async def _subscribe(self) -> None:
        after = self.position
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if after else api.DeliverPolicy.ALL,
            opt_start_seq=after + 1 if after else None,
        )
        self._sub = await retrying(
            lambda: self.js.subscribe(
                self.settings.log_subject,
                stream=self.settings.stream,
                cb=self._on_msg,
                ordered_consumer=True,
                config=config,
                idle_heartbeat=1.0,
                pending_msgs_limit=1_000_000,
                pending_bytes_limit=1 << 30,
            ),
            deadline_s=self.settings.publish_deadline_s,
            what="log subscription",
        )

    async def _watch(self) -> None:
        """Resubscribe when the ordered consumer stalled (its server died and recreating it failed)."""
        seen = self.position
        while self.error is None:
            await asyncio.sleep(STALL_CHECK_S)
            if self.position != seen:
                seen = self.position
                continue
            try:
                if await last_stream_seq(self.js, self.settings) <= self.position:
                    continue
                logger.warning("log reader stalled at stream seq %d; resubscribing", self.position)
                await self._unsubscribe()
                await self._subscribe()
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                logger.warning("log reader watchdog: %r", exc)

    async def _on_msg(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self.position or self.error is not None:
            return
        try:
            self.on_batch(seq, wire.decode_batch(msg.data))
        except BaseException as exc:
            self.error = exc
            logger.critical("log message at stream seq %d cannot be applied: %r", seq, exc)
            self._moved.set()
            raise
        self.position = seq
        self._moved.set()

    async def wait_for(self, stream_seq: int, timeout: float | None = None) -> None:
        """Return once every message up to `stream_seq` was handed on (raises a follower failure)."""
        async with asyncio.timeout(timeout):
            while self.position < stream_seq:
                if self.error is not None:
                    raise self.error
                self._moved.clear()
                await self._moved.wait()
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        """Stop following."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        await self._unsubscribe()

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except (nats.errors.Error, nats.js.errors.Error):
                logger.debug("unsubscribe failed", exc_info=True)


async def read_batches(
    js: JetStreamContext, settings: ClusterSettings, after: int, through: int
) -> list[tuple[int, wire.LogBatch]]:
    """The log messages after stream seq `after` up to `through`, in order."""
    found: list[tuple[int, wire.LogBatch]] = []
    if through <= after:
        return found
    reader = LogReader(js, settings, lambda seq, batch: found.append((seq, batch)))
    await reader.start(after)
    try:
        await reader.wait_for(through)
    finally:
        await reader.stop()
    return [(seq, batch) for seq, batch in found if seq <= through]
