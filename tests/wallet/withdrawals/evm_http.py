"""A py-evm chain (eth-tester) served as HTTP JSON-RPC on a loopback port from a background thread.

It outlives the server processes a crash test kills, and it can hold `eth_sendRawTransaction` at a
gate: `HOLD` parks a send before the chain sees it (the process dies between sign and broadcast),
`APPLY_THEN_HANG` puts the transaction on chain but withholds the answer (it dies after the broadcast,
before recording it). Every send that arrives is counted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from enum import Enum
from typing import Any

import uvicorn
from web3 import Web3

from wcx.cli.serve import listen
from wcx.testing.evm import in_process_rpc

SEND = "eth_sendRawTransaction"


class Gate(Enum):
    """What happens to the next raw transaction sent."""

    OPEN = "open"
    HOLD = "hold"
    APPLY_THEN_HANG = "apply_then_hang"


def _wire(value: Any, key: str = "") -> Any:
    """eth-tester's Python values in JSON-RPC wire form (QUANTITY ints as 0x-hex, the bloom as DATA)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return "0x" + value.to_bytes(256, "big").hex() if key == "logsBloom" else hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {k: _wire(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return json.loads(Web3.to_json(value))


class EvmHttpNode:
    """Start with `start()`, stop with `stop()`; `url` is the JSON-RPC endpoint."""

    def __init__(self) -> None:
        self.gate = Gate.OPEN
        self.sends: list[str] = []
        self.arrived = threading.Event()
        self._release = threading.Event()
        self._sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(
            uvicorn.Config(self._app, log_level="warning", lifespan="off", interface="asgi3")
        )
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._w3: Any = None

    def start(self) -> EvmHttpNode:
        """Serve in the background; returns once requests are answered."""
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("EVM HTTP node did not start")
            time.sleep(0.01)
        return self

    def set_gate(self, gate: Gate) -> None:
        """Apply `gate` to sends from now on; sends parked so far are let go (a HOLD one unapplied)."""
        parked, self._release = self._release, threading.Event()
        self.gate = gate
        self.arrived.clear()
        parked.set()

    def stop(self) -> None:
        """Release every parked request and stop serving."""
        self._release.set()
        self._server.should_exit = True
        self._thread.join(20)
        self._sock.close()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._w3 = in_process_rpc().w3
        await self._server.serve(sockets=[self._sock])

    async def _call(self, method: str, params: list[Any]) -> dict[str, Any]:
        try:
            response = dict(await self._w3.manager._coro_make_request(method, params))
        except Exception as exc:
            return {"error": {"code": -32000, "message": str(exc)}}
        if "result" in response:
            response["result"] = _wire(response["result"])
        return response

    async def _send(self, params: list[Any]) -> dict[str, Any]:
        self.sends.append(str(params[0]))
        gate, release = self.gate, self._release
        self.arrived.set()
        if gate is Gate.HOLD:
            await self._parked(release)
            return {"error": {"code": -32000, "message": "dropped: the sender went away"}}
        response = await self._call(SEND, params)
        if gate is Gate.APPLY_THEN_HANG:
            await self._parked(release)
        return response

    @staticmethod
    async def _parked(release: threading.Event) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = json.loads(body)
        method, params = request["method"], request.get("params", [])
        response = await (self._send(params) if method == SEND else self._call(method, params))
        payload = json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **response}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
