"""A stopped engine answers Binance clients -1007 ("execution status unknown", 503), over REST and the
WebSocket API, instead of a 500 or a dropped connection."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from wcx.runtime import Runtime

from ..conftest import credit, sign_up
from ..test_ws_login_ends import served  # noqa: F401  (fixture)
from .test_wsapi_revoked import signed

pytestmark = pytest.mark.anyio

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}


async def test_a_stopped_engine_answers_minus_1007_over_rest_and_the_websocket_api(
    served: tuple[str, httpx.AsyncClient],  # noqa: F811
    runtime: Runtime,
) -> None:
    url, http = served
    user = await sign_up(http, "ivy@example.com")
    await credit(http, user, "USDT", "10000")
    body = {"permissions": ["read", "trade"]}
    key: dict[str, Any] = (await http.post("/api/v1/api-keys", json=body, headers=user.headers)).json()
    helper = runtime.sequencer.sync_process_pid
    assert helper is not None
    os.kill(helper, signal.SIGKILL)  # the next group commit cannot be made durable

    query = urlencode({**ORDER, "quantity": "0.01", "price": "100", "timestamp": int(time.time() * 1000)})
    signature = hmac.new(key["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    rest = await http.post(
        f"/api/v3/order?{query}&signature={signature}", headers={"X-MBX-APIKEY": key["key"]}
    )
    assert rest.status_code == 503, rest.text
    assert rest.json()["code"] == -1007

    async with connect(url.replace("/ws", "/ws-api/v3")) as client:
        params = signed(key, **ORDER, quantity="0.01", price="101")
        await client.send(orjson.dumps({"id": 7, "method": "order.place", "params": params}).decode())
        answer = orjson.loads(await client.recv())
    assert (answer["id"], answer["status"], answer["error"]["code"]) == (7, 503, -1007)
    assert (await http.get("/readyz")).status_code == 503
