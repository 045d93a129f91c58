"""Streams for WebSocket clients: a pub/sub bus (in-process or Redis) and the engine-event publisher."""

from wcx.stream.books import BookDiff, BookGapError, BookSnapshot, BookTracker, ClientBook
from wcx.stream.bus import (
    Bus,
    BusError,
    InProcessBus,
    RedisBus,
    SlowConsumerError,
    Subscription,
    create_bus,
)
from wcx.stream.publisher import PUBLIC_KINDS, Publisher, account_channel

__all__ = [
    "PUBLIC_KINDS",
    "BookDiff",
    "BookGapError",
    "BookSnapshot",
    "BookTracker",
    "Bus",
    "BusError",
    "ClientBook",
    "InProcessBus",
    "Publisher",
    "RedisBus",
    "SlowConsumerError",
    "Subscription",
    "account_channel",
    "create_bus",
]
