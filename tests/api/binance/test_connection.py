"""The Binance WebSocket connection: answers and stream events leave in queue order, a stream event
between requests is sent at once, and a client that stops reading is closed with 1013."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from wcx.api.binance.connection import CLOSE_SLOW_CONSUMER, OUTBOUND_QUEUE, Connection


class FakeSocket:
    """The part of Starlette's WebSocket a connection uses; `reading` pauses its sends."""

    def __init__(self) -> None:
        self.inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[Any] = []
        self.reading = asyncio.Event()
        self.reading.set()
        self.closed_with: int | None = None

    async def accept(self) -> None:
        pass

    async def receive(self) -> dict[str, Any]:
        return await self.inbound.get()

    async def send(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        self.sent.append(orjson.loads(message["text"]))

    async def close(self, code: int) -> None:
        self.closed_with = code

    def request(self, text: str) -> None:
        self.inbound.put_nowait({"type": "websocket.receive", "text": text})


class Echo(Connection):
    """Answers each request after yielding once, so a stream event can be queued meanwhile."""

    async def handle(self, raw: str | bytes) -> None:
        self.push({"event": f"during {raw!s}"})
        await asyncio.sleep(0.01)
        self.push({"answer": raw})


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_answers_and_events_leave_in_queue_order_and_events_between_requests_go_at_once() -> None:
    async def scenario() -> list[Any]:
        socket = FakeSocket()
        connection = Echo(socket, runtime=None)  # type: ignore[arg-type]
        running = asyncio.create_task(connection.run())
        socket.request("a")
        await _until(lambda: len(socket.sent) == 2)
        connection.push({"event": "between"})  # no request in flight: the sender task sends it
        await _until(lambda: len(socket.sent) == 3)
        socket.request("b")
        await _until(lambda: len(socket.sent) == 5)
        socket.inbound.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(running, 5)
        return socket.sent

    assert asyncio.run(scenario()) == [
        {"event": "during a"},
        {"answer": "a"},
        {"event": "between"},
        {"event": "during b"},
        {"answer": "b"},
    ]


def test_a_client_that_stops_reading_is_closed_as_a_slow_consumer() -> None:
    async def scenario() -> FakeSocket:
        socket = FakeSocket()
        connection = Echo(socket, runtime=None)  # type: ignore[arg-type]
        running = asyncio.create_task(connection.run())
        await asyncio.sleep(0.01)
        socket.reading.clear()
        for n in range(OUTBOUND_QUEUE + 2):
            connection.push({"event": n})
            if n % 100 == 0:
                await asyncio.sleep(0)
        await asyncio.wait_for(running, 5)
        return socket

    socket = asyncio.run(scenario())
    assert socket.closed_with == CLOSE_SLOW_CONSUMER
