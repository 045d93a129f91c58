"""ccxt.pro's binance class against a real `wcx serve`: the order book it keeps from REST depth plus
`@depth` diffs stays identical to the server's book through a burst of trading; trades, klines and
tickers arrive; the raw stream protocol answers SUBSCRIBE / LIST_SUBSCRIPTIONS / properties."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import ccxt.pro
import httpx
import pytest
from websockets.sync.client import connect

from api.binance.conftest import Venue, config

# The bus, the rate limits and the replay store differ between backends: run both.
pytestmark = pytest.mark.parametrize("venue", ["sqlite", "postgresql+redis"], indirect=True)

SYMBOL = "ETH/USDT"


def depth(venue: Venue) -> dict[str, Any]:
    """The REST book (full depth) as ccxt parses it: floats, best first."""
    raw = httpx.get(f"{venue.url}/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 5000}).json()
    side = {k: [[float(p), float(q)] for p, q in raw[k]] for k in ("bids", "asks")}
    return {**side, "nonce": raw["lastUpdateId"]}


async def burst(alice: Any, bob: Any, orders: int, rng: random.Random) -> None:
    """Concurrent resting orders, cancels and crossing IOCs from two traders."""

    async def one(i: int) -> None:
        trader = alice if i % 2 else bob
        side = rng.choice(["buy", "sell"])
        price = 3_000 + rng.randint(-20, 20)
        amount = rng.choice([0.01, 0.02, 0.05, 0.1])
        if i % 5 == 4:
            await trader.create_order(
                SYMBOL, "limit", side, amount, price + (30 if side == "buy" else -30), {"timeInForce": "IOC"}
            )
        else:
            order = await trader.create_order(SYMBOL, "limit", side, amount, price)
            if i % 7 == 3 and order["status"] == "open":
                try:
                    await trader.cancel_order(order["id"], SYMBOL)
                except ccxt.OrderNotFound:
                    # A crossing IOC of the same round filled it between the answer and the cancel.
                    assert (await trader.fetch_order(order["id"], SYMBOL))["status"] == "closed"

    for start in range(0, orders, 8):
        await asyncio.gather(*(one(i) for i in range(start, min(start + 8, orders))))


def test_watch_order_book_stays_identical_to_rest_through_a_burst(venue: Venue) -> None:
    async def scenario() -> None:
        watcher = ccxt.pro.binance(config(venue.url))
        alice = ccxt.pro.binance(config(venue.url, venue.alice))
        bob = ccxt.pro.binance(config(venue.url, venue.bob))
        try:
            await asyncio.gather(watcher.load_markets(), alice.load_markets(), bob.load_markets())
            await alice.create_order(SYMBOL, "limit", "sell", 0.5, 3_100)  # a book to start from
            book = await watcher.watch_order_book(SYMBOL)
            updates = 0

            async def follow() -> None:
                nonlocal book, updates
                while True:
                    book = await watcher.watch_order_book(SYMBOL)
                    updates += 1
                    if book["bids"] and book["asks"]:
                        assert book["bids"][0][0] < book["asks"][0][0], "crossed book"

            follower = asyncio.create_task(follow())
            await burst(alice, bob, 80, random.Random(7))
            rest = depth(venue)
            for _ in range(50):  # the stream may still be delivering the last diffs
                if follower.done() or [book["bids"], book["asks"]] == [rest["bids"], rest["asks"]]:
                    break
                await asyncio.sleep(0.1)
                rest = depth(venue)
            assert not follower.done(), follower.exception()
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            assert (book["bids"], book["asks"]) == (rest["bids"], rest["asks"])
            assert updates > 5 and book["nonce"] <= rest["nonce"]
            assert len(rest["bids"]) + len(rest["asks"]) >= 10  # the burst left a real book behind
        finally:
            # The module's later tests trade at their own prices on an empty book, even after a failure.
            await asyncio.gather(alice.cancel_all_orders(SYMBOL), bob.cancel_all_orders(SYMBOL))
            await asyncio.gather(watcher.close(), alice.close(), bob.close())

    asyncio.run(scenario())


async def until(watch: Callable[[], Awaitable[Any]], wanted: Callable[[Any], bool]) -> Any:
    """Watch until an update satisfies `wanted` (a subscription starts with the current state)."""
    while not wanted(value := await watch()):
        pass
    return value


def test_watch_trades_ohlcv_and_ticker(venue: Venue) -> None:
    async def scenario() -> None:
        watcher = ccxt.pro.binance(config(venue.url))
        alice = ccxt.pro.binance(config(venue.url, venue.alice))
        bob = ccxt.pro.binance(config(venue.url, venue.bob))
        try:
            await asyncio.gather(watcher.load_markets(), alice.load_markets(), bob.load_markets())
            trades = asyncio.create_task(watcher.watch_trades(SYMBOL))
            candles = asyncio.create_task(
                until(lambda: watcher.watch_ohlcv(SYMBOL, "1m"), lambda c: c[-1][4] == 2_950)
            )
            await asyncio.sleep(0.3)  # both subscriptions are acknowledged before the trade
            await alice.create_order(SYMBOL, "limit", "sell", 0.03, 2_950)
            await bob.create_order(SYMBOL, "limit", "buy", 0.03, 2_950, {"timeInForce": "IOC"})
            seen = await asyncio.wait_for(trades, 10)
            assert seen[-1]["price"] == 2_950.0 and seen[-1]["amount"] == 0.03 and seen[-1]["side"] == "buy"
            assert seen[-1]["symbol"] == SYMBOL and isinstance(seen[-1]["timestamp"], int)
            ohlcv = await asyncio.wait_for(candles, 10)
            assert ohlcv[-1][4] == 2_950.0 and ohlcv[-1][0] % 60_000 == 0
            ticker = await asyncio.wait_for(
                until(lambda: watcher.watch_ticker(SYMBOL), lambda t: t["last"] == 2_950), 10
            )
            assert ticker["last"] == 2_950.0 and ticker["symbol"] == SYMBOL
        finally:
            await asyncio.gather(watcher.close(), alice.close(), bob.close())

    asyncio.run(scenario())


def test_raw_stream_protocol(venue: Venue) -> None:
    ws_url = venue.url.replace("http://", "ws://")
    with connect(f"{ws_url}/ws/ethusdt@bookTicker") as ws:
        first = json.loads(ws.recv(timeout=5))
        assert set(first) == {"u", "s", "b", "B", "a", "A"} and first["s"] == "ETHUSDT"
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth5@100ms"], "id": 1}))
        assert json.loads(ws.recv(timeout=5)) == {"result": None, "id": 1}
        partial = json.loads(ws.recv(timeout=5))
        assert set(partial) == {"lastUpdateId", "bids", "asks"}
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "x2"}))
        assert json.loads(ws.recv(timeout=5)) == {
            "result": ["ethusdt@bookTicker", "btcusdt@depth5@100ms"],
            "id": "x2",
        }
        ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3}))
        assert json.loads(ws.recv(timeout=5)) == {"result": None, "id": 3}
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 4}))
        error = json.loads(ws.recv(timeout=5))
        assert error["code"] == 2 and error["id"] == 4
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=5))["code"] == 3
        ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}))
        assert json.loads(ws.recv(timeout=5)) == {"result": False, "id": 5}
    with connect(f"{ws_url}/stream?streams=btcusdt@bookTicker/ethusdt@miniTicker") as ws:
        wrapped = json.loads(ws.recv(timeout=5))
        assert wrapped["stream"] == "btcusdt@bookTicker" and wrapped["data"]["s"] == "BTCUSDT"


def test_kline_stream_matches_rest_klines(venue: Venue) -> None:
    ws_url = venue.url.replace("http://", "ws://")
    alice, bob = venue.rest(venue.alice), venue.rest(venue.bob)
    with connect(f"{ws_url}/ws/btcusdt@kline_1m") as ws:
        alice.create_order("BTC/USDT", "limit", "sell", 0.01, 64_000)
        bob.create_order("BTC/USDT", "limit", "buy", 0.01, 64_000, {"timeInForce": "IOC"})
        # The first event may be the candle as it was before the trade (the seed): read on to the trade.
        while (event := json.loads(ws.recv(timeout=5)))["k"]["c"] != "64000.000000":
            pass
    k = event["k"]
    rest = httpx.get(
        f"{venue.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m", "startTime": k["t"]}
    )
    row = rest.json()[0]
    assert event["e"] == "kline" and k["c"] == "64000.000000" and k["L"] >= k["f"]
    fields = [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"]]
    assert fields == row[:11]
