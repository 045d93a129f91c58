"""Pub/sub for WebSocket fan-out: in-process by default, Redis when several gateways share streams.

Both buses deliver a channel's messages to every local subscriber in publish order, each through a
bounded queue. A subscriber that lets its queue fill up is dropped (its iterator raises
`SlowConsumerError`): the publisher never waits for a slow reader and memory stays bounded. A
subscriber may instead take its payloads synchronously (`forward_to`), e.g. straight into a
connection's own bounded outbound queue: that saves a task wake-up per message and subscriber,
which is most of the fan-out cost once a channel has a thousand subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 4096
"""Messages a subscriber may have waiting before it is dropped."""

Message = tuple[str, bytes]
"""(channel, payload)."""


class SlowConsumerError(RuntimeError):
    """The subscriber fell more than its queue size behind and was dropped."""


class BusError(RuntimeError):
    """The bus could not set up a subscription (e.g. Redis did not confirm it in time)."""


class Subscription(Protocol):
    """An async iterator over one channel's payloads; `close()` ends it."""

    channel: str

    def __aiter__(self) -> AsyncIterator[bytes]:
        """Iterate payloads until closed (StopAsyncIteration) or dropped (SlowConsumerError)."""
        ...

    async def __anext__(self) -> bytes:
        """The next payload."""
        ...

    async def close(self) -> None:
        """Stop receiving; idempotent."""
        ...

    def forward_to(self, sink: Callable[[bytes], object], on_end: Callable[[], object]) -> None:
        """From now on call `sink` with each payload (queued ones first), and `on_end` once it ends."""
        ...


class Bus(Protocol):
    """Publish bytes to named channels; subscribe to a channel's future messages."""

    async def start(self) -> None:
        """Connect (if the bus needs to)."""
        ...

    async def close(self) -> None:
        """Close every subscription and release connections."""
        ...

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send one message to every current subscriber of `channel`."""
        ...

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Send messages in order (one round trip for Redis)."""
        ...

    async def subscribe(self, channel: str) -> Subscription:
        """Receive every message published to `channel` after this returns."""
        ...


class LocalSubscription:
    """A bounded queue of one channel's payloads, fed by a `FanOut`."""

    def __init__(self, channel: str, limit: int, on_close: Callable[[LocalSubscription], object]) -> None:
        self.channel = channel
        self._limit = limit
        self._items: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._dropped = False
        self._on_close = on_close
        self._sink: Callable[[bytes], object] | None = None
        self._on_end: Callable[[], object] | None = None

    @property
    def dropped(self) -> bool:
        """Whether the bus dropped this subscriber for falling behind."""
        return self._dropped

    def offer(self, payload: bytes) -> bool:
        """Queue a payload; False (and the subscription is dropped) when the queue is full."""
        if self._closed:
            return False
        if self._sink is not None:
            self._sink(payload)
            return True
        if len(self._items) >= self._limit:
            self._dropped = True
            self._items.clear()
            self._finish()
            return False
        self._items.append(payload)
        self._wake()
        return True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._wake()
            self._on_close(self)
            if self._on_end is not None:
                self._on_end()

    def forward_to(self, sink: Callable[[bytes], object], on_end: Callable[[], object]) -> None:
        """From now on call `sink` with each payload (queued ones first), and `on_end` once it ends.

        The sink runs inside `publish`/the Redis reader, so it must not block; bounding what it
        buffers is its job (the iterator then waits only for the end).
        """
        self._sink, self._on_end = sink, on_end
        while self._items:
            sink(self._items.popleft())
        if self._closed:
            on_end()

    def __aiter__(self) -> LocalSubscription:
        return self

    async def __anext__(self) -> bytes:
        while not self._items:
            if self._dropped:
                raise SlowConsumerError(f"subscriber of {self.channel!r} fell behind and was dropped")
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    async def close(self) -> None:
        """Stop receiving; payloads already queued are discarded."""
        self._items.clear()
        self._finish()


class FanOut:
    """Local subscribers per channel; delivery is synchronous and never blocks."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[str, set[LocalSubscription]] = {}
        self.on_empty: Callable[[str], object] | None = None

    def add(self, channel: str) -> LocalSubscription:
        """A new subscriber of `channel`."""
        subscription = LocalSubscription(channel, self.queue_size, self._remove)
        self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    def count(self, channel: str) -> int:
        """Local subscribers of `channel`."""
        return len(self._subscribers.get(channel, ()))

    def channels(self) -> list[str]:
        """Channels with at least one local subscriber."""
        return list(self._subscribers)

    def _remove(self, subscription: LocalSubscription) -> None:
        subscribers = self._subscribers.get(subscription.channel)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.channel]
            if self.on_empty is not None:
                self.on_empty(subscription.channel)

    def deliver(self, channel: str, payload: bytes) -> None:
        """Queue a payload for every subscriber of `channel`, dropping those that are full."""
        subscribers = self._subscribers.get(channel)
        if not subscribers:
            return
        for subscription in list(subscribers):
            if not subscription.offer(payload):
                logger.warning("dropped a slow subscriber of %s", channel)

    async def close_all(self) -> None:
        """End every subscription."""
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                await subscription.close()


class InProcessBus:
    """Fan-out inside one process (the default when REDIS_URL is not set)."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.fanout = FanOut(queue_size)

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """End every subscription."""
        await self.fanout.close_all()

    async def publish(self, channel: str, payload: bytes) -> None:
        """Deliver to local subscribers now."""
        self.fanout.deliver(channel, payload)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Deliver each message in order."""
        deliver = self.fanout.deliver
        for channel, payload in messages:
            deliver(channel, payload)

    async def subscribe(self, channel: str) -> LocalSubscription:
        """A subscriber that sees every message published after this call."""
        return self.fanout.add(channel)


class RedisBus:
    """Fan-out through Redis pub/sub: one connection per process carries every channel it needs.

    Local subscribers share the process's Redis subscription of a channel (SUBSCRIBE on the first,
    UNSUBSCRIBE after the last). Publishers only PUBLISH; local subscribers receive their own
    process's messages back from Redis like every other gateway, so all see one order. Messages
    published while the connection is down are lost; book diffs carry `prev_seq` so clients see
    the gap and resubscribe.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "wcx:",
        queue_size: int = DEFAULT_QUEUE_SIZE,
        confirm_timeout: float = 5.0,
    ) -> None:
        self.prefix = prefix
        self.fanout = FanOut(queue_size)
        self.fanout.on_empty = self._on_empty
        self._redis = aioredis.Redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._confirm_timeout = confirm_timeout
        # Serialises SUBSCRIBE/UNSUBSCRIBE so each waits for its own confirmation in order.
        self._lock = asyncio.Lock()
        self._remote: set[str] = set()
        self._confirmations: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._cleanup: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect the pub/sub connection and start reading from it."""
        if self._reader is None:
            await self._pubsub.connect()  # type: ignore[no-untyped-call]
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="wcx-redis-bus")

    async def close(self) -> None:
        """End every subscription and close the connections."""
        await self.fanout.close_all()
        if self._cleanup:
            await asyncio.wait(self._cleanup)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def publish(self, channel: str, payload: bytes) -> None:
        """PUBLISH one message."""
        await self._redis.publish(self.prefix + channel, payload)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """PUBLISH messages in order in one pipeline."""
        if not messages:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, payload in messages:
                pipe.publish(self.prefix + channel, payload)
            await pipe.execute()

    async def subscribe(self, channel: str) -> LocalSubscription:
        """A subscriber that sees every message published after this returns (Redis has confirmed)."""
        await self.start()
        async with self._lock:
            subscription = self.fanout.add(channel)
            if channel not in self._remote:
                try:
                    await self._command("subscribe", channel)
                except BaseException:
                    await subscription.close()
                    raise
                self._remote.add(channel)
        return subscription

    async def _command(self, kind: str, channel: str) -> None:
        key = (kind, self.prefix + channel)
        confirmed = self._confirmations[key] = asyncio.get_running_loop().create_future()
        try:
            if kind == "subscribe":
                await self._pubsub.subscribe(key[1])
            else:
                await self._pubsub.unsubscribe(key[1])
            await asyncio.wait_for(confirmed, self._confirm_timeout)
        except (TimeoutError, RedisError) as exc:
            raise BusError(f"redis did not confirm {kind} of {channel!r}: {exc!r}") from exc
        finally:
            self._confirmations.pop(key, None)

    def _on_empty(self, channel: str) -> None:
        task = asyncio.get_running_loop().create_task(self._unsubscribe(channel))
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel not in self._remote or self.fanout.count(channel):
                return
            self._remote.discard(channel)
            try:
                await self._command("unsubscribe", channel)
            except BusError:
                logger.warning("could not unsubscribe %s from redis", channel, exc_info=True)

    async def _read(self) -> None:
        prefix = self.prefix.encode()
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except RedisError:
                # redis-py reconnects and re-subscribes on the next read; messages in between are lost.
                logger.warning("redis bus connection lost; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            kind, raw = message["type"], message["channel"]
            channel = raw.decode() if isinstance(raw, bytes) else str(raw)
            if kind == "message":
                if raw.startswith(prefix):
                    self.fanout.deliver(channel[len(self.prefix) :], message["data"])
            elif kind in ("subscribe", "unsubscribe"):
                confirmed = self._confirmations.get((kind, channel))
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)


def create_bus(redis_url: str = "", *, queue_size: int = DEFAULT_QUEUE_SIZE) -> Bus:
    """RedisBus when a Redis URL is configured, else InProcessBus."""
    if redis_url:
        return RedisBus(redis_url, queue_size=queue_size)
    return InProcessBus(queue_size)
