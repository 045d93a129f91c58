"""A user data stream on the WebSocket API ends when its API key is revoked, before it delivers more."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from wcx.api.binance import wsapi
from wcx.runtime import Runtime

from ..conftest import credit, sign_up
from ..test_ws_login_ends import served  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio


def signed(key: dict[str, Any], **params: Any) -> dict[str, Any]:
    """Params signed as Binance's WebSocket API documents: sorted k=v&..., HMAC-SHA256 hex."""
    params = {**params, "apiKey": key["key"], "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return {
        **params,
        "signature": hmac.new(key["secret"].encode(), payload.encode(), hashlib.sha256).hexdigest(),
    }


async def test_revoking_the_key_terminates_its_user_data_stream(
    served: tuple[str, Any],  # noqa: F811
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wsapi, "RECHECK_S", 0.0)  # check before every delivery
    url, http = served
    user = await sign_up(http, "wren@example.com")
    key = (await http.post("/api/v1/api-keys", json={"permissions": ["read"]}, headers=user.headers)).json()
    async with connect(url.replace("/ws", "/ws-api/v3")) as client:
        request = {"id": 1, "method": "userDataStream.subscribe.signature", "params": signed(key)}
        await client.send(orjson.dumps(request).decode())
        assert orjson.loads(await client.recv())["result"] == {"subscriptionId": 0}
        await credit(http, user, "USDT", "5")
        first = orjson.loads(await client.recv())
        assert (first["subscriptionId"], first["event"]["e"]) == (0, "balanceUpdate")  # a live key's events
        await client.send('{"id": 2, "method": "ping"}')
        while orjson.loads(await client.recv()).get("id") != 2:
            pass  # the rest of the first credit's events

        assert (await http.delete(f"/api/v1/api-keys/{key['id']}", headers=user.headers)).status_code == 204
        await credit(http, user, "USDT", "7")
        ended = orjson.loads(await asyncio.wait_for(client.recv(), 5))
        assert (ended["subscriptionId"], ended["event"]["e"]) == (0, "eventStreamTerminated")
        await client.send('{"id": 3, "method": "ping"}')
        assert orjson.loads(await client.recv())["id"] == 3  # nothing of the second credit leaked
