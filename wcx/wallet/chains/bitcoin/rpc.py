"""bitcoind JSON-RPC over HTTP (aiohttp), amounts parsed as Decimal, errors mapped to ChainError."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from itertools import count
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from wcx.wallet.chains.port import ChainError

RPC_TIMEOUT_S = 15.0

# bitcoind's RPC error codes the adapter answers specially (src/rpc/protocol.h).
RPC_INVALID_ADDRESS_OR_KEY = -5  # unknown transaction / block
RPC_INVALID_PARAMETER = -8  # block height out of range
RPC_DESERIALIZATION_ERROR = -22
RPC_VERIFY_ERROR = -25
RPC_VERIFY_REJECTED = -26
RPC_VERIFY_ALREADY_IN_CHAIN = -27


def basic_auth(user: str, password: str) -> str:
    """The HTTP Basic Authorization header value bitcoind's RPC server expects."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class BitcoinRpcError(ChainError):
    """bitcoind answered with an error object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"bitcoind error {code}: {message}")
        self.code = code
        self.message = message


class BitcoinRpc:
    """One bitcoind endpoint: `http://user:password@host:port[/wallet/name]`."""

    def __init__(self, url: str, timeout_s: float = RPC_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        self._headers = {"Content-Type": "application/json"}
        if parts.username is not None:
            self._headers["Authorization"] = basic_auth(
                unquote(parts.username), unquote(parts.password or "")
            )
        netloc = parts.hostname or "127.0.0.1"
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        # credentials go in the Authorization header, never into logs via the URL
        self.url = urlunsplit((parts.scheme or "http", netloc, parts.path or "/", "", ""))
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = count(1)

    async def call(self, method: str, *params: Any) -> Any:
        """The result of one RPC call; BitcoinRpcError for an error reply, ChainError when unreachable."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        body = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        try:
            async with self._session.post(self.url, data=json.dumps(body, default=str)) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChainError(f"bitcoind unreachable at {self.url}: {exc!r}") from exc
        if status == 401:
            raise ChainError("bitcoind refused the RPC credentials")
        try:
            # Amounts are JSON numbers in BTC: Decimal keeps every satoshi exact.
            reply = json.loads(text, parse_float=Decimal)
        except ValueError:
            raise ChainError(f"bitcoind answered HTTP {status} with a non-JSON body") from None
        error = reply.get("error") if isinstance(reply, dict) else None
        if error:
            raise BitcoinRpcError(int(error.get("code", 0)), str(error.get("message", "")))
        if not isinstance(reply, dict) or "result" not in reply:
            raise ChainError(f"bitcoind answered HTTP {status} without a result")
        return reply["result"]

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
