"""A Binance WebSocket API client for `wcx bench api`: signed requests on a bare WebSocket, one at a time.

Like the bench's HTTP client it is minimal on purpose, so the measuring processes cost less CPU than
the server's answers: an upgrade of `/ws-api/v3` without extensions, masked text frames out
(`wcx.simulator.book_watcher.client_frame`), unfragmented text, ping and close frames in. A request's
`params` are signed the way `wcx.api.binance.signed` checks them: `apiKey` and `timestamp` added,
then the hex HMAC-SHA256 of every parameter sorted by name as `k=v&...`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from wcx.api.auth.signing import hmac_signature
from wcx.api.binance.signed import ws_payload
from wcx.simulator.book_watcher import CLOSE, PING, PONG, TEXT, HandshakeError, client_frame, upgrade_request

PATH = "/ws-api/v3"


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next (unmasked, final) server frame as (opcode, payload)."""
    head = await reader.readexactly(2)
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return opcode, await reader.readexactly(length)


class WsApiConnection:
    """One WebSocket API connection: `call` sends a signed request and waits for its answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next_id = 0

    async def connect(self) -> None:
        """Open the TCP connection and upgrade it."""
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(upgrade_request(self.host, self.port, PATH))
        answer = await self._reader.readuntil(b"\r\n\r\n")
        if not answer.startswith(b"HTTP/1.1 101"):
            self.close()
            raise HandshakeError(answer.decode(errors="replace"))

    async def call(self, method: str, params: dict[str, Any], key: str, secret: str) -> tuple[int, bytes]:
        """(status, the whole answer frame) of one SIGNED request."""
        assert self._reader is not None and self._writer is not None, "connect first"
        params["apiKey"] = key
        params["timestamp"] = time.time_ns() // 1_000_000
        params["signature"] = hmac_signature(secret, ws_payload(params))
        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params}
        self._writer.write(client_frame(TEXT, orjson.dumps(request)))
        while True:
            opcode, payload = await _read_frame(self._reader)
            if opcode == TEXT:
                answer = orjson.loads(payload)
                if answer.get("id") == self._next_id:
                    return int(answer["status"]), payload
            elif opcode == PING:
                self._writer.write(client_frame(PONG, payload))
            elif opcode == CLOSE:
                self.close()
                raise ConnectionError(f"the server closed the WebSocket: {payload[:2].hex()}")

    def close(self) -> None:
        """Drop the connection."""
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None
