"""A book subscriber on a bare WebSocket, cheap enough that a thousand of them do not outweigh the server.

`wcx bench api` times book diffs from the diff's `ts` to its arrival. With the `websockets` client
each diff cost the subscriber processes ~30 µs of CPU, more than the server spent delivering it, so
on a shared 2-core box the measuring clients competed with the server and queued their own
messages. This client parses frames straight in `data_received` (one `time.time_ns()` per read, one
`orjson.loads` per message) and keeps only what the figures need: the arrival delays and the
`prev_seq` chain. It speaks just enough RFC 6455 for that: an upgrade without extensions, masked
text frames out, unfragmented text, ping and close frames in.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from array import array
from typing import cast

import orjson

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
"""Frame opcodes (RFC 6455 §5.2)."""


class HandshakeError(ConnectionError):
    """The server did not switch protocols."""


def upgrade_request(host: str, port: int, path: str) -> bytes:
    """An HTTP/1.1 upgrade of `path` to a WebSocket, with a fresh key and no extensions."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (RFC 6455 §5.2)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    # XOR as one big integer: a per-byte generator cost the order-sending clients ~25 µs per request.
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")


def _unmasked_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Whole server frames at the start of `buffer` as (opcode, payload), removed from it."""
    frames: list[tuple[int, bytes]] = []
    start, size = 0, len(buffer)
    while size - start >= 2:
        opcode, length = buffer[start] & 0x0F, buffer[start + 1] & 0x7F
        head = 2
        if length == 126:
            head = 4
            if size - start < head:
                break
            length = int.from_bytes(buffer[start + 2 : start + 4], "big")
        elif length == 127:
            head = 10
            if size - start < head:
                break
            length = int.from_bytes(buffer[start + 2 : start + 10], "big")
        end = start + head + length
        if end > size:
            break
        frames.append((opcode, bytes(buffer[start + head : end])))
        start = end
    del buffer[:start]
    return frames


class BookWatcher(asyncio.Protocol):
    """One connection subscribed to a book channel: snapshot, then diffs timed and chain-checked."""

    def __init__(self, host: str, port: int, channel: str) -> None:
        self.host, self.port = host, port
        self.subscribe = client_frame(TEXT, orjson.dumps({"op": "subscribe", "channels": [channel]}))
        self.unsubscribe = client_frame(TEXT, orjson.dumps({"op": "unsubscribe", "channels": [channel]}))
        self.ready = asyncio.get_running_loop().create_future()
        self.measuring = False
        self.delays_ms: array[float] = array("d")
        self.gaps = 0
        self.dropped = False
        self.close_code: int | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._closing = False
        self._seq: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request."""
        self._transport = cast(asyncio.Transport, transport)  # uvloop's does not subclass asyncio's
        self._transport.write(upgrade_request(self.host, self.port, "/ws"))

    def data_received(self, data: bytes) -> None:
        """Handle every whole frame that arrived; the read's time is every message's arrival time."""
        received = time.time_ns()
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._fail(HandshakeError(bytes(buffer[: end + 4]).decode(errors="replace")))
                return
            del buffer[: end + 4]
            self._upgraded = True
            self._write(self.subscribe)
        for opcode, payload in _unmasked_frames(buffer):
            if opcode == TEXT:
                self._message(payload, received)
            elif opcode == PING:
                self._write(client_frame(PONG, payload))
            elif opcode == CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self.dropped = not self._closing
                self.close()

    def _message(self, payload: bytes, received: int) -> None:
        message = orjson.loads(payload)
        kind = message["type"]
        if kind == "book_snapshot":
            self._seq = message["seq"]
            if not self.ready.done():
                self.ready.set_result(None)
            return
        if kind != "book" or self._seq is None or message["seq"] <= self._seq:
            return  # an ack or heartbeat, waiting for the snapshot after a gap, or already in it
        if self.measuring:
            self.delays_ms.append((received - message["ts"]) / 1e6)
        if message["prev_seq"] != self._seq:
            self.gaps += 1
            self._seq = None  # resubscribe: the next snapshot restarts the chain
            self._write(self.unsubscribe + self.subscribe)
            return
        self._seq = message["seq"]

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        self.close()

    def close(self) -> None:
        """Send a close frame (once) and drop the connection."""
        if not self._closing and self._upgraded:
            self._write(client_frame(CLOSE, (1000).to_bytes(2, "big")))
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        """A connection the server ended counts as a drop."""
        if not self._closing:
            self.dropped = True
        self._fail(ConnectionError(f"connection lost before the snapshot: {exc!r}"))


async def watch(host: str, port: int, channel: str) -> BookWatcher:
    """A connected watcher that has received its snapshot."""
    loop = asyncio.get_running_loop()
    _, watcher = await loop.create_connection(lambda: BookWatcher(host, port, channel), host, port)
    await watcher.ready
    return watcher
