"""The bench's bare WebSocket book subscriber: frames split across reads, the seq chain, pings, closes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson

from wcx.simulator.book_watcher import BookWatcher, client_frame

T = TypeVar("T")
SUBSCRIBE = orjson.dumps({"op": "subscribe", "channels": ["book.BTC-USDT"]})


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Wire:
    """Stands in for the TCP transport: keeps what the watcher writes."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def server_frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked server frame."""
    length = len(payload)
    if length < 126:
        return bytes((0x80 | opcode, length)) + payload
    return bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big") + payload


def text(message: dict[str, Any]) -> bytes:
    return server_frame(0x1, orjson.dumps(message))


def unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of one short masked client frame."""
    assert frame[1] & 0x80, "client frames must be masked"
    length, mask = frame[1] & 0x7F, frame[2:6]
    return frame[0] & 0x0F, bytes(byte ^ mask[index % 4] for index, byte in enumerate(frame[6 : 6 + length]))


def diff(seq: int, prev_seq: int) -> bytes:
    now = time.time_ns()
    return text({"type": "book", "seq": seq, "prev_seq": prev_seq, "ts": now, "bids": [], "asks": []})


def connected() -> tuple[BookWatcher, Wire]:
    watcher, wire = BookWatcher("127.0.0.1", 8000, "book.BTC-USDT"), Wire()
    watcher.connection_made(wire)  # type: ignore[arg-type]
    assert wire.written.startswith(b"GET /ws HTTP/1.1\r\n") and b"Upgrade: websocket\r\n" in wire.written
    wire.written.clear()
    return watcher, wire


def test_client_frames_are_masked_and_round_trip() -> None:
    payload = orjson.dumps({"op": "subscribe", "channels": ["book.BTC-USDT"]})
    assert unmask(client_frame(0x1, payload)) == (0x1, payload)
    long = client_frame(0x1, b"x" * 300)
    assert long[1] == 0x80 | 126 and int.from_bytes(long[2:4], "big") == 300


def test_snapshot_then_diffs_are_timed_and_a_gap_resubscribes() -> None:
    async def scenario() -> None:
        watcher, wire = connected()
        handshake = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        snapshot = text({"type": "book_snapshot", "seq": 5, "bids": [["1.0", "2.0"]] * 20, "asks": []})
        stream = handshake + text({"type": "subscribed", "channels": ["book.BTC-USDT"]}) + snapshot
        for start in range(0, len(stream), 7):  # the frames arrive in pieces
            watcher.data_received(stream[start : start + 7])
        assert watcher.ready.done()
        assert unmask(bytes(wire.written)) == (0x1, SUBSCRIBE)
        wire.written.clear()

        watcher.data_received(diff(4, 3))  # already in the snapshot
        watcher.measuring = True
        watcher.data_received(diff(6, 5) + diff(7, 6))
        assert len(watcher.delays_ms) == 2 and watcher.gaps == 0 and not wire.written
        watcher.data_received(diff(9, 8))  # 8 was missed
        assert watcher.gaps == 1
        unsubscribe = orjson.dumps({"op": "unsubscribe", "channels": ["book.BTC-USDT"]})
        assert unmask(bytes(wire.written)) == (0x1, unsubscribe)
        assert unmask(bytes(wire.written[6 + len(unsubscribe) :])) == (0x1, SUBSCRIBE)
        watcher.data_received(diff(10, 9))  # ignored until the new snapshot
        resubscribed = text({"type": "book_snapshot", "seq": 10, "bids": [], "asks": []})
        watcher.data_received(resubscribed + diff(11, 10))
        assert watcher.gaps == 1 and len(watcher.delays_ms) == 4

    run(scenario())


def test_pings_are_answered_and_a_server_close_counts_as_a_drop() -> None:
    async def scenario() -> None:
        watcher, wire = connected()
        watcher.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        wire.written.clear()
        watcher.data_received(server_frame(0x9, b"beat"))
        assert unmask(bytes(wire.written)) == (0xA, b"beat")
        watcher.data_received(server_frame(0x8, (1013).to_bytes(2, "big") + b"slow consumer"))
        assert watcher.dropped and watcher.close_code == 1013 and wire.closed

    run(scenario())


def test_closing_it_ourselves_is_not_a_drop_and_a_refused_upgrade_fails_the_wait() -> None:
    async def scenario() -> None:
        watcher, wire = connected()
        watcher.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        watcher.close()
        watcher.connection_lost(None)
        assert not watcher.dropped and wire.closed

        refused, _ = connected()
        refused.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
        assert refused.ready.done() and isinstance(refused.ready.exception(), ConnectionError)

    run(scenario())
