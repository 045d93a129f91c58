"""The WebSocket connection both Binance endpoints build on: a receive loop, a bounded outbound queue
(a client that does not read is closed with 1013 instead of buffered for), and background tasks.

The answers to a client's requests are sent by the receive loop itself once the request is handled,
with whatever was queued meanwhile; a sender task carries what is queued between requests (stream
events), so the common request → answer path costs no task switch. Messages leave in the order they
were queued."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

import orjson
from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from wcx.runtime import Runtime

logger = logging.getLogger(__name__)

OUTBOUND_QUEUE = 4096
MAX_MESSAGE_BYTES = 16_384
CLOSE_SLOW_CONSUMER = 1013
CLOSE_SERVER_ERROR = 1011


class Connection:
    """One client. Subclasses implement `handle` (one text frame) and may override `closing`."""

    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.outbound: deque[bytes] = deque()
        self._queued = asyncio.Event()
        self._sending = False
        self._handling = False
        self.done = asyncio.Event()
        self.close_code: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Serve the client until it leaves or is dropped."""
        await self.websocket.accept()
        await self.opened()
        self.spawn(self._receive())
        self.spawn(self._send())
        try:
            await self.done.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.closing()
            if self.close_code is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(self.close_code), 2)

    async def opened(self) -> None:
        """Hook: the connection is accepted."""

    async def closing(self) -> None:
        """Hook: release what the connection holds (its tasks are already cancelled)."""

    async def handle(self, raw: str | bytes) -> None:
        """One message from the client."""
        raise NotImplementedError

    def finish(self, code: int | None) -> None:
        """End the connection; with a code the server closes it (None: the client already left)."""
        if not self.done.is_set():
            self.close_code = code
            self.done.set()

    def spawn(self, body: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `body` for the connection's lifetime; its failure ends the connection."""
        task = asyncio.create_task(self._guard(body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def push(self, message: Any) -> None:
        """Queue a JSON message, or drop the client if it is too far behind."""
        if self.done.is_set():
            return
        if len(self.outbound) >= OUTBOUND_QUEUE:
            self.finish(CLOSE_SLOW_CONSUMER)
            return
        self.outbound.append(orjson.dumps(message))
        if not (self._handling or self._sending):  # either sends this soon anyway
            self._queued.set()

    async def _guard(self, body: Coroutine[Any, Any, None]) -> None:
        try:
            await body
        except (WebSocketDisconnect, OSError):
            self.finish(None)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("binance websocket connection failed")
            self.finish(CLOSE_SERVER_ERROR)

    async def _flush(self) -> None:
        """Send what is queued, unless another task is already doing so (it sends this too)."""
        if self._sending:
            return
        self._sending = True
        try:
            send, outbound = self.websocket.send, self.outbound
            while outbound:
                await send({"type": "websocket.send", "text": outbound.popleft().decode()})
        finally:
            self._sending = False

    async def _send(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            await self._flush()

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.finish(None)
                return
            raw = message.get("text") or message.get("bytes") or b""
            self._handling = True
            try:
                if len(raw) > MAX_MESSAGE_BYTES:
                    self.too_large()
                else:
                    await self.handle(raw)
            finally:
                self._handling = False
            await self._flush()

    def too_large(self) -> None:
        """Hook: a message over MAX_MESSAGE_BYTES was received (and ignored)."""
