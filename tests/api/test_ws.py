"""/ws over a real uvicorn server: snapshot + diffs, trades, login and the private channel, slow consumers."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wcx.api import ws
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.bootstrap import setup_commands
from wcx.config.markets import load_reference_data
from wcx.engine import CreditDeposit, Engine, Event, PlaceOrder, Side
from wcx.engine.events import OrderFilled
from wcx.primitives import format_amount
from wcx.sequencer import Sequencer
from wcx.simulator.flow import OrderFlow
from wcx.stream import ClientBook, InProcessBus, Publisher

T = TypeVar("T")
BTC = 10**8
USDT = 10**6
TOKENS = {
    "token-1": Principal(1, frozenset(Permission)),
    "token-2": Principal(2, frozenset(Permission)),
    "trade-only": Principal(3, frozenset({Permission.TRADE})),
}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def fake_authenticate(runtime: Any, message: dict[str, Any], client_ip: str | None = None) -> Principal:
    """Stands in for wcx.api.auth.authenticate_ws: a fixed token table."""
    assert client_ip == "127.0.0.1"
    principal = TOKENS.get(message.get("token", ""))
    if principal is None:
        raise ApiError(401, "UNAUTHENTICATED", "invalid or expired token")
    return principal


@dataclass
class FakeRuntime:
    """What /ws reads from the runtime."""

    sequencer: Sequencer
    bus: InProcessBus
    publisher: Publisher

    @property
    def engine(self) -> Engine:
        return self.sequencer.engine

    async def submit(self, *commands: Any) -> list[Event]:
        results = await self.sequencer.submit_many(commands)
        return [event for events in results for event in events]


@contextlib.asynccontextmanager
async def exchange(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[str, FakeRuntime]]:
    """A sequencer with the demo markets over a fresh journal, the publisher listening, /ws served."""
    sequencer = Sequencer.open(tmp_path / "journal")
    await sequencer.start()
    bus = InProcessBus()
    publisher = Publisher(sequencer.engine, bus)
    sequencer.add_listener(publisher.on_events)
    await publisher.start()
    runtime = FakeRuntime(sequencer, bus, publisher)
    await sequencer.submit_many(setup_commands(load_reference_data()))
    app = FastAPI()
    app.include_router(ws.router)
    app.state.runtime = runtime
    app.state.ws_authenticate = fake_authenticate
    app.state.ws_options = ws.WsOptions(**options)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws", runtime
    finally:
        server.should_exit = True
        await serving
        await publisher.stop()
        await sequencer.stop()
        await bus.close()


async def recv(client: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next message as JSON."""
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(client.recv(), timeout))
    return message


async def request(client: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send a message and return the next reply."""
    await client.send(orjson.dumps(message).decode())
    return await recv(client)


async def subscribe(client: ClientConnection, *channels: str) -> list[dict[str, Any]]:
    """Subscribe and return the ack plus the snapshots that follow it (one per book/ticker/account)."""
    ack = await request(client, {"op": "subscribe", "channels": list(channels)})
    assert ack == {"type": "subscribed", "channels": list(channels)}
    snapshots = sum(1 for c in channels if c.split(".")[0] in ("book", "ticker", "account"))
    return [ack] + [await recv(client) for _ in range(snapshots)]


def engine_depth(engine: Engine, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    market = engine.state.markets[symbol]
    base, quote = engine.state.assets[market.base], engine.state.assets[market.quote]

    def side(levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
        return [(format_amount(price, quote), format_amount(qty, base)) for price, qty in levels]

    return side(market.book.bids.depth(10**9)), side(market.book.asks.depth(10**9))


class Watcher:
    """A client rebuilding the BTC-USDT book and collecting trades until it reaches a seq."""

    def __init__(self, client: ClientConnection, snapshot: dict[str, Any]) -> None:
        assert snapshot["type"] == "book_snapshot"
        self.client = client
        self.book = ClientBook(snapshot)
        self.trade_ids: list[int] = []

    async def follow_to(self, seq: int, trades: int) -> None:
        while self.book.seq < seq or len(self.trade_ids) < trades:
            message = await recv(self.client)
            if message["type"] == "book":
                assert self.book.apply(message), "a diff the snapshot already had was forwarded"
            elif message["type"] == "trades":
                self.trade_ids += [trade["id"] for trade in message["trades"]]


def test_book_snapshot_then_diffs_rebuild_the_engine_book(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path, snapshot_depth=None) as (url, runtime):
            flow = OrderFlow(load_reference_data(), [load_reference_data().market("BTC-USDT")], accounts=10)
            await runtime.submit(*flow.funding())
            rng = random.Random(5)
            fills: list[int] = []
            watchers: list[Watcher] = []
            async with connect(url) as first, connect(url) as second:
                _, snapshot = await subscribe(first, "book.BTC-USDT", "trades.BTC-USDT")
                watchers.append(Watcher(first, snapshot))
                for round_ in range(40):
                    # Several submits in one tick form one sequencer batch.
                    futures = [runtime.sequencer.submit(c) for c in flow.commands(rng.randint(1, 30))]
                    for events in await asyncio.gather(*futures):
                        fills += [e.trade_id for e in events if isinstance(e, OrderFilled)]
                    if round_ == 20:
                        _, snapshot = await subscribe(second, "book.BTC-USDT", "trades.BTC-USDT")
                        watchers.append(Watcher(second, snapshot))
                        late_fills = len(fills)
                target = runtime.publisher.book_snapshot("BTC-USDT", None)
                assert target is not None
                assert len(fills) > 20
                for watcher, expected_fills in zip(watchers, (fills, fills[late_fills:]), strict=True):
                    await watcher.follow_to(target[0], len(expected_fills))
                    assert watcher.book.depth() == engine_depth(runtime.engine, "BTC-USDT")
                    assert watcher.trade_ids == expected_fills

    run(scenario())


def test_the_snapshot_has_the_best_100_levels_and_the_ticker_comes_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path) as (url, runtime):
            await runtime.submit(CreditDeposit(1, "USDT", 10**9 * USDT, "d1"))
            await runtime.submit(
                *(
                    PlaceOrder(1, "BTC-USDT", Side.BUY, price=(50_000 + i) * USDT, quantity=BTC // 100)
                    for i in range(120)
                )
            )
            async with connect(url) as client:
                _, book, ticker = await subscribe(
                    client, "book.BTC-USDT", "ticker.BTC-USDT", "candles.BTC-USDT.1m"
                )
                assert len(book["bids"]) == 100
                assert book["bids"][0] == ["50119.000000", "0.01000000"]
                assert book["bids"][-1][0] == "50020.000000"
                assert book["asks"] == []
                assert (ticker["type"], ticker["best_bid"], ticker["last"]) == (
                    "ticker",
                    "50119.000000",
                    None,
                )
                # No trade yet, so no candle to start with: the next message answers the ping.
                assert await request(client, {"op": "ping"}) == {"type": "pong"}

    run(scenario())


def test_bad_requests_get_error_codes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path, max_message_bytes=200) as (url, _), connect(url) as client:
            assert await request(client, {"op": "ping", "id": 7}) == {"type": "pong", "id": 7}
            for channel in ("book.NOPE-USDT", "candles", "candles.BTC-USDT.2m", "trades.BTC-USDT.1m", "book"):
                reply = await request(client, {"op": "subscribe", "channels": [channel]})
                assert (reply["type"], reply["code"], reply["channel"]) == (
                    "error",
                    "UNKNOWN_CHANNEL",
                    channel,
                )
            bad: list[Any] = [
                "not json",
                [1, 2],
                {"op": "dance"},
                {"op": "subscribe", "channels": "book.BTC-USDT"},
                {"op": "subscribe", "channels": []},
                {"op": "subscribe", "channels": [1]},
                {"op": "ping", "pad": "x" * 300},
            ]
            for message in bad:
                await client.send(message if isinstance(message, str) else orjson.dumps(message).decode())
                reply = await recv(client)
                assert (reply["type"], reply["code"]) == ("error", "BAD_MESSAGE"), message
            # The connection survives bad input.
            assert await request(client, {"op": "ping"}) == {"type": "pong"}

    run(scenario())


def test_account_channel_only_after_login_and_only_ones_own(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path) as (url, runtime):
            await runtime.submit(
                CreditDeposit(1, "BTC", BTC, "d1"), CreditDeposit(2, "USDT", 10**5 * USDT, "d2")
            )
            async with connect(url) as alice, connect(url) as bob, connect(url) as trader:
                reply = await request(alice, {"op": "subscribe", "channels": ["account"]})
                assert (reply["code"], reply["channel"]) == ("UNAUTHENTICATED", "account")
                reply = await request(alice, {"op": "login", "token": "stolen"})
                assert (reply["type"], reply["code"]) == ("error", "UNAUTHENTICATED")
                assert await request(alice, {"op": "login", "token": "token-1", "id": "a"}) == {
                    "type": "login",
                    "user_id": 1,
                    "id": "a",
                }
                assert (await request(alice, {"op": "login", "token": "token-2"}))["code"] == "BAD_MESSAGE"
                reply = await request(alice, {"op": "subscribe", "channels": ["account.2"]})
                assert (reply["code"], reply["channel"]) == ("UNKNOWN_CHANNEL", "account.2")
                # One's own id is accepted as an alias of "account".
                reply = await request(alice, {"op": "subscribe", "channels": ["account.1"]})
                assert reply == {"type": "subscribed", "channels": ["account"]}
                snapshot = await recv(alice)
                assert snapshot["type"] == "account_snapshot"
                assert snapshot["balances"] == {"BTC": {"available": "1.00000000", "held": "0.00000000"}}
                await request(bob, {"op": "login", "token": "token-2"})
                await subscribe(bob, "account")
                await request(trader, {"op": "login", "token": "trade-only"})
                reply = await request(trader, {"op": "subscribe", "channels": ["account"]})
                assert reply["code"] == "PERMISSION_DENIED"

                await runtime.submit(
                    PlaceOrder(1, "BTC-USDT", Side.SELL, price=60_000 * USDT, quantity=BTC // 2)
                )
                await runtime.submit(
                    PlaceOrder(2, "BTC-USDT", Side.BUY, price=60_000 * USDT, quantity=BTC // 2)
                )
                accepted, filled = await recv(alice), await recv(alice)
                assert [o["status"] for o in accepted["orders"]] == ["accepted"]
                assert [o["status"] for o in filled["orders"]] == ["filled"]
                assert [f["liquidity"] for f in filled["fills"]] == ["maker"]
                assert filled["balances"]["BTC"] == {"available": "0.50000000", "held": "0.00000000"}
                bobs = await recv(bob)
                assert [f["liquidity"] for f in bobs["fills"]] == ["taker"]
                assert {o["order_id"] for o in bobs["orders"]} == {2}
                # Nothing of bob's reached alice: her next message is the reply to this ping.
                assert await request(alice, {"op": "ping"}) == {"type": "pong"}

    run(scenario())


def test_unsubscribe_stops_the_channel(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path) as (url, runtime), connect(url) as client:
            await subscribe(client, "trades.BTC-USDT")
            await runtime.bus.publish("trades.BTC-USDT", b'{"type":"trades","seq":1}')
            assert (await recv(client))["seq"] == 1
            reply = await request(client, {"op": "unsubscribe", "channels": ["trades.BTC-USDT"]})
            assert reply == {"type": "unsubscribed", "channels": ["trades.BTC-USDT"]}
            assert runtime.bus.fanout.count("trades.BTC-USDT") == 0
            await runtime.bus.publish("trades.BTC-USDT", b'{"type":"trades","seq":2}')
            assert await request(client, {"op": "ping"}) == {"type": "pong"}

    run(scenario())


def test_a_stream_ending_on_the_server_closes_the_connection_with_going_away(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path) as (url, runtime), connect(url) as client:
            await subscribe(client, "trades.BTC-USDT", "book.BTC-USDT")
            await runtime.bus.close()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(client)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == ws.CLOSE_GOING_AWAY

    run(scenario())


def test_heartbeats(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path, heartbeat_s=0.05) as (url, _), connect(url) as client:
            assert await recv(client, timeout=2) == {"type": "heartbeat"}
            assert await recv(client, timeout=2) == {"type": "heartbeat"}

    run(scenario())


def test_a_slow_consumer_is_dropped_while_others_keep_receiving(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with exchange(tmp_path, outbound_queue=8, close_timeout_s=30) as (url, runtime):
            channel = "trades.BTC-USDT"
            async with connect(url, max_queue=1, compression=None) as slow, connect(url) as fast:
                await subscribe(slow, channel)
                await subscribe(fast, channel)
                pad = "x" * 65_536
                sent = 0
                # The slow client reads nothing: socket buffers fill, then its bounded queue.
                while runtime.bus.fanout.count(channel) == 2:
                    sent += 1
                    assert sent < 2_000, "the slow consumer was never dropped"
                    await runtime.bus.publish(
                        channel, orjson.dumps({"type": "trades", "seq": sent, "pad": pad})
                    )
                    assert (await recv(fast))["seq"] == sent
                for _ in range(3):
                    sent += 1
                    await runtime.bus.publish(channel, orjson.dumps({"type": "trades", "seq": sent}))
                    assert (await recv(fast))["seq"] == sent
                received = 0
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(slow.recv(), 10)
                        received += 1
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == ws.CLOSE_SLOW_CONSUMER
                assert 0 < received < sent

    run(scenario())
