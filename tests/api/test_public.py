"""Public endpoints, operations endpoints and gateway behaviour (errors, limits, body size, metrics)."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from wcx.api.app import create_app
from wcx.api.ratelimit import Limit
from wcx.runtime import Runtime

from .conftest import BASE, User

pytestmark = pytest.mark.anyio


async def test_time_is_the_server_clock(client: httpx.AsyncClient) -> None:
    before = time.time_ns() // 1_000_000
    body = (await client.get("/api/v1/time")).json()
    assert before <= body["time_ms"] <= time.time_ns() // 1_000_000


async def test_assets_and_markets_come_from_the_reference_data(client: httpx.AsyncClient) -> None:
    assets = (await client.get("/api/v1/assets")).json()
    assert assets == [{"code": "BTC", "scale": 8}, {"code": "ETH", "scale": 18}, {"code": "USDT", "scale": 6}]
    markets = {m["symbol"]: m for m in (await client.get("/api/v1/markets")).json()}
    assert set(markets) == {"BTC-USDT", "ETH-USDT", "ETH-BTC"}
    btc = markets["BTC-USDT"]
    assert (btc["base"], btc["quote"], btc["status"]) == ("BTC", "USDT", "trading")
    assert btc["tick_size"] == "0.010000" and btc["lot_step"] == "0.00010000"
    assert btc["min_notional"] == "5.000000"
    assert (await client.get("/api/v1/markets/ETH-BTC")).json() == markets["ETH-BTC"]


async def test_unknown_market_is_404_with_a_code(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/markets/DOGE-USDT", "/api/v1/markets/DOGE-USDT/book", "/api/v1/markets/x/trades"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "UNKNOWN_MARKET"


async def test_book_levels_and_seq_come_from_engine_memory(
    client: httpx.AsyncClient, runtime: Runtime, alice: User
) -> None:
    for price in ("60000", "60001", "60002"):
        order = {"symbol": "BTC-USDT", "side": "sell", "price": price, "quantity": "0.1"}
        assert (await client.post("/api/v1/orders", json=order, headers=alice.headers)).status_code == 201
    order = {"symbol": "BTC-USDT", "side": "buy", "price": "59000", "quantity": "0.25"}
    assert (await client.post("/api/v1/orders", json=order, headers=alice.headers)).status_code == 201
    book = (await client.get("/api/v1/markets/BTC-USDT/book", params={"depth": 2})).json()
    assert book["seq"] == runtime.engine.state.last_seq
    assert book["asks"] == [["60000.000000", "0.10000000"], ["60001.000000", "0.10000000"]]
    assert book["bids"] == [["59000.000000", "0.25000000"]]


@pytest.mark.parametrize("depth", ["0", "-1", "501", "abc", "1e3"])
async def test_book_depth_out_of_range_is_422(client: httpx.AsyncClient, depth: str) -> None:
    response = await client.get("/api/v1/markets/BTC-USDT/book", params={"depth": depth})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_trades_candles_and_ticker_follow_a_trade(
    client: httpx.AsyncClient, runtime: Runtime, alice: User, bob: User
) -> None:
    sell = {"symbol": "BTC-USDT", "side": "sell", "price": "60000", "quantity": "0.5"}
    buy = {"symbol": "BTC-USDT", "side": "buy", "price": "60000", "quantity": "0.2"}
    assert (await client.post("/api/v1/orders", json=sell, headers=alice.headers)).status_code == 201
    assert (await client.post("/api/v1/orders", json=buy, headers=bob.headers)).status_code == 201
    await runtime.projector.flush()
    trades = (await client.get("/api/v1/markets/BTC-USDT/trades")).json()
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in trades] == [
        ("60000.000000", "0.20000000", "buy")
    ]
    candles = (await client.get("/api/v1/markets/BTC-USDT/candles", params={"interval": "1m"})).json()
    assert len(candles) == 1
    assert (candles[0]["open"], candles[0]["close"], candles[0]["volume"], candles[0]["trades"]) == (
        "60000.000000",
        "60000.000000",
        "0.20000000",
        1,
    )
    ticker = (await client.get("/api/v1/markets/BTC-USDT/ticker")).json()
    assert (ticker["last"], ticker["volume"], ticker["quote_volume"], ticker["trades"]) == (
        "60000.000000",
        "0.20000000",
        "12000.000000",
        1,
    )
    assert (ticker["best_ask"], ticker["best_bid"]) == ("60000.000000", None)


async def test_candles_refuse_unknown_intervals_and_reversed_ranges(client: httpx.AsyncClient) -> None:
    bad_interval = await client.get("/api/v1/markets/BTC-USDT/candles", params={"interval": "7m"})
    assert bad_interval.status_code == 422
    reversed_range = await client.get(
        "/api/v1/markets/BTC-USDT/candles", params={"interval": "1h", "start": 2000, "end": 1000}
    )
    assert reversed_range.status_code == 400
    assert reversed_range.json()["error"]["code"] == "INVALID_RANGE"


async def test_health_readiness_and_metrics(client: httpx.AsyncClient, runtime: Runtime, alice: User) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"journal": True, "database": True}}
    order = {"symbol": "BTC-USDT", "side": "buy", "price": "1", "quantity": "10"}
    await client.post("/api/v1/orders", json=order, headers=alice.headers)
    metrics = (await client.get("/metrics")).text
    for name in (
        "trading_engine_order_processing_duration_seconds_bucket",
        "trading_engine_orders_processed_total",
        "trading_engine_requests_total",
        "trading_engine_errors_total",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
    ):
        assert name in metrics
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert 'route="/api/v1/orders",status="201"' in metrics


async def test_readiness_fails_when_the_database_is_gone(client: httpx.AsyncClient, runtime: Runtime) -> None:
    runtime.recovered = False
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["journal"] is False


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces" and len(made.headers["x-request-id"]) == 32


async def test_bodies_above_64_kib_are_413(client: httpx.AsyncClient, alice: User) -> None:
    body = json.dumps({"symbol": "BTC-USDT", "side": "buy", "client_order_id": "x" * 70_000})
    response = await client.post(
        "/api/v1/orders", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "BODY_TOO_LARGE"

    async def chunks() -> object:
        for _ in range(100):
            yield b"x" * 1024

    streamed = await client.post("/api/v1/orders", content=chunks(), headers=alice.headers)
    assert streamed.status_code == 413


async def test_public_rate_limit_per_ip(runtime: Runtime) -> None:
    app = create_app(runtime, limits={"ip": Limit(rate=0.001, burst=3)})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as client:
        answers = [await client.get("/api/v1/time") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    refused = answers[3]
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1
    other_ip = httpx.ASGITransport(app, client=("10.0.0.9", 1234))
    async with httpx.AsyncClient(transport=other_ip, base_url=BASE) as client:
        assert (await client.get("/api/v1/time")).status_code == 200


async def test_openapi_lists_public_and_private_paths(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/markets/{symbol}/book", "/api/v1/orders", "/api/v1/balances", "/api/v1/fills"):
        assert path in paths
    assert "/dev/credit" not in paths


async def test_a_stopped_sequencer_makes_the_server_unready(
    client: httpx.AsyncClient, runtime: Runtime, alice: User
) -> None:
    helper = runtime.sequencer.sync_process_pid
    assert helper is not None
    os.kill(helper, signal.SIGKILL)
    order = {"symbol": "BTC-USDT", "side": "buy", "price": "1", "quantity": "10"}
    refused = await client.post("/api/v1/orders", json=order, headers=alice.headers)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "ENGINE_UNAVAILABLE"
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"journal": False, "database": True}
