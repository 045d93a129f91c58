"""The WebSocket API through ccxt.pro (create_order_ws, cancel_order_ws, watch_orders, watch_balance over
`userDataStream.subscribe.signature`) and raw, plus Ed25519 API keys over REST and the WebSocket API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import ccxt.pro
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.sync.client import connect

from api.binance.conftest import Trader, Venue, config, create_key, session_headers

# The bus, the rate limits and the replay store differ between backends: run both.
pytestmark = pytest.mark.parametrize("venue", ["sqlite", "postgresql+redis"], indirect=True)

SYMBOL = "BTC/USDT"


async def until(watch: Callable[[], Awaitable[Any]], wanted: Callable[[Any], bool]) -> Any:
    """Watch until an update satisfies `wanted`."""
    while not wanted(value := await watch()):
        pass
    return value


def test_orders_over_the_websocket_api_and_the_user_data_stream(venue: Venue) -> None:
    async def scenario() -> None:
        alice = ccxt.pro.binance(config(venue.url, venue.alice))
        bob = ccxt.pro.binance(config(venue.url, venue.bob))
        try:
            await asyncio.gather(alice.load_markets(), bob.load_markets())
            start = (await alice.fetch_balance())["BTC"]["free"]
            orders = asyncio.create_task(
                until(lambda: alice.watch_orders(SYMBOL), lambda os: any(o["status"] == "closed" for o in os))
            )
            balances = asyncio.create_task(
                until(
                    alice.watch_balance, lambda b: b.get("BTC", {}).get("free") == pytest.approx(start - 0.02)
                )
            )
            await asyncio.sleep(0.3)  # the user data subscription is in place
            placed = await alice.create_order_ws(SYMBOL, "limit", "sell", 0.02, 58_000)
            assert placed["status"] == "open" and placed["price"] == 58_000.0 and placed["amount"] == 0.02
            await bob.create_order(SYMBOL, "limit", "buy", 0.02, 58_000, {"timeInForce": "IOC"})
            seen = await asyncio.wait_for(orders, 10)
            filled = next(o for o in seen if o["id"] == placed["id"] and o["status"] == "closed")
            assert (filled["filled"], filled["cost"], filled["side"]) == (0.02, 1_160.0, "sell")
            balance = await asyncio.wait_for(balances, 10)
            assert balance["USDT"]["free"] > 0

            resting = await alice.create_order_ws(SYMBOL, "limit", "sell", 0.01, 90_000)
            cancelled = await alice.cancel_order_ws(resting["id"], SYMBOL)
            assert cancelled["status"] == "canceled" and cancelled["id"] == resting["id"]
            with pytest.raises(ccxt.InsufficientFunds):
                await alice.create_order_ws(SYMBOL, "limit", "sell", 500, 90_000)
            with pytest.raises(ccxt.OrderNotFound):
                await alice.cancel_order_ws(resting["id"], SYMBOL)
        finally:
            await asyncio.gather(alice.close(), bob.close())

    asyncio.run(scenario())


def signed_params(trader: Trader, **params: Any) -> dict[str, Any]:
    """WebSocket API params signed as the documentation says: sorted `k=v&...`, HMAC-SHA256 hex."""
    params = {**params, "apiKey": trader.key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return {
        **params,
        "signature": hmac.new(trader.secret.encode(), payload.encode(), hashlib.sha256).hexdigest(),
    }


def test_websocket_api_protocol(venue: Venue) -> None:
    with connect(f"{venue.url.replace('http://', 'ws://')}/ws-api/v3") as ws:

        def call(method: str, params: dict[str, Any] | None = None, request_id: Any = "r1") -> dict[str, Any]:
            ws.send(
                json.dumps({"id": request_id, "method": method, **({"params": params} if params else {})})
            )
            while True:
                answer = json.loads(ws.recv(timeout=5))
                if "subscriptionId" not in answer:
                    return answer

        pong = call("ping", request_id=7)
        assert pong["id"] == 7 and pong["status"] == 200 and pong["result"] == {}
        assert pong["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert call("time")["result"]["serverTime"] > 0
        info = call("exchangeInfo", {"symbol": "BTCUSDT"})["result"]
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
        account = call("account.status", signed_params(venue.alice))
        assert account["status"] == 200 and account["result"]["canTrade"] is True
        placed = call(
            "order.place",
            signed_params(
                venue.alice,
                symbol="BTCUSDT",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.01",
                price="1000",
            ),
        )
        assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
        order_id = placed["result"]["orderId"]
        status = call("order.status", signed_params(venue.alice, symbol="BTCUSDT", orderId=order_id))
        assert status["result"]["orderId"] == order_id and status["result"]["price"] == "1000.000000"
        listed = call("openOrders.status", signed_params(venue.alice, symbol="BTCUSDT"))
        assert order_id in [o["orderId"] for o in listed["result"]]
        subscribed = call("userDataStream.subscribe.signature", signed_params(venue.alice))
        assert subscribed["result"] == {"subscriptionId": 0}
        ws.send(
            json.dumps(
                {
                    "id": "c",
                    "method": "order.cancel",
                    "params": signed_params(venue.alice, symbol="BTCUSDT", orderId=order_id),
                }
            )
        )
        events = []
        while len(events) < 2 or not any(e.get("id") == "c" for e in events):
            events.append(json.loads(ws.recv(timeout=5)))
        report = next(
            e["event"]
            for e in events
            if e.get("subscriptionId") == 0 and e["event"]["e"] == "executionReport"
        )
        assert (report["x"], report["X"], report["i"]) == ("CANCELED", "CANCELED", order_id)
        bad = signed_params(venue.alice)
        bad["signature"] = "0" * 64
        refused = call("account.status", bad)
        assert refused["status"] == 400 and refused["error"]["code"] == -1022
        assert call("no.such.method")["error"]["code"] == -1020
        assert call("userDataStream.unsubscribe", {"subscriptionId": 0})["result"] == {}


def test_ed25519_keys_sign_rest_and_websocket_api(venue: Venue) -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with httpx.Client(base_url=venue.url, timeout=30) as http:
        headers = session_headers(http, "ed@example.com")
        created = create_key(http, headers, kind="ed25519", public_key=base64.b64encode(public).decode())
        assert (
            http.post(
                "/dev/credit", json={"email": "ed@example.com", "asset": "USDT", "amount": "1000"}
            ).status_code
            == 200
        )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    trader = Trader("ed@example.com", created["key"], pem)
    client = venue.rest(trader)
    assert client.fetch_balance()["USDT"]["free"] == 1_000.0
    order = client.create_order(SYMBOL, "limit", "buy", 0.01, 1_000)
    assert client.fetch_order(order["id"], SYMBOL)["status"] == "open"

    async def over_websocket() -> None:
        pro = ccxt.pro.binance(config(venue.url, trader))
        try:
            await pro.load_markets()
            cancelled = await pro.cancel_order_ws(order["id"], SYMBOL)
            assert cancelled["status"] == "canceled"
        finally:
            await pro.close()

    asyncio.run(over_websocket())
    with pytest.raises(ccxt.AuthenticationError):  # another key's signature does not verify
        other = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        venue.rest(Trader(trader.email, trader.key, other.decode())).fetch_balance()
