"""A WebSocket login lasts as long as what it logged in with: a session, an API key, an unfrozen account."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wcx.api import ws
from wcx.api.app import create_app
from wcx.api.auth import auth_state
from wcx.api.auth.signing import hmac_signature, ws_login_message
from wcx.runtime import Runtime
from wcx.store.schema import users

from .conftest import sign_up

pytestmark = pytest.mark.anyio

RECHECK_S = 0.1


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The real API app (real authentication) on a uvicorn port, rechecking logins every 0.1 s."""
    app = create_app(runtime)
    app.state.ws_options = ws.WsOptions(recheck_s=RECHECK_S)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        yield f"ws://127.0.0.1:{port}/ws", http
    server.should_exit = True
    await serving


async def login(client: ClientConnection, message: dict[str, Any]) -> None:
    """Log in and subscribe to the account channel (its snapshot read)."""
    await client.send(orjson.dumps({"op": "login", **message}).decode())
    assert orjson.loads(await client.recv())["type"] == "login"
    await client.send(orjson.dumps({"op": "subscribe", "channels": ["account"]}).decode())
    assert orjson.loads(await client.recv())["type"] == "subscribed"
    assert orjson.loads(await client.recv())["type"] == "account_snapshot"


async def closed_with(client: ClientConnection) -> tuple[int, str]:
    """Read until the server closes the connection; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def still_open(client: ClientConnection) -> bool:
    """Whether the connection answers a ping after several rechecks."""
    await asyncio.sleep(RECHECK_S * 5)
    await client.send('{"op":"ping"}')
    return bool(orjson.loads(await asyncio.wait_for(client.recv(), 5)) == {"type": "pong"})


async def test_logout_ends_a_token_login(served: tuple[str, httpx.AsyncClient]) -> None:
    url, http = served
    user = await sign_up(http, "una@example.com")
    token = user.headers["Authorization"].removeprefix("Bearer ")
    async with connect(url) as client:
        await login(client, {"token": token})
        assert await still_open(client)
        assert (await http.post("/api/v1/auth/logout", headers=user.headers)).status_code == 204
        assert await closed_with(client) == (ws.CLOSE_POLICY_VIOLATION, "SESSION_REVOKED")


async def test_revoking_the_key_ends_a_key_login_and_freezing_ends_any(
    served: tuple[str, httpx.AsyncClient], runtime: Runtime
) -> None:
    url, http = served
    user = await sign_up(http, "vic@example.com")
    key = (await http.post("/api/v1/api-keys", json={"permissions": ["read"]}, headers=user.headers)).json()
    stamp = str(int(time.time() * 1000))
    signed = {
        "key": key["key"],
        "timestamp": stamp,
        "signature": hmac_signature(key["secret"], ws_login_message(stamp)),
    }
    token = user.headers["Authorization"].removeprefix("Bearer ")
    async with connect(url) as by_key, connect(url) as by_token:
        await login(by_key, signed)
        await login(by_token, {"token": token})
        assert await still_open(by_key)
        revoked = await http.delete(f"/api/v1/api-keys/{key['id']}", headers=user.headers)
        assert revoked.status_code == 204, revoked.text
        assert await closed_with(by_key) == (ws.CLOSE_POLICY_VIOLATION, "API_KEY_REVOKED")
        assert await still_open(by_token)  # the session is another login, still valid

        async with runtime.db.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user.user_id).values(frozen=True))
        auth_state(runtime).sessions.clear()  # as the back office's freeze does (wcx.admin.users)
        assert await closed_with(by_token) == (ws.CLOSE_POLICY_VIOLATION, "ACCOUNT_FROZEN")
