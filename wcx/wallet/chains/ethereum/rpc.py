"""The JSON-RPC transport: an AsyncWeb3 over HTTP (or any provider), errors mapped to ChainError."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import Web3Exception, Web3RPCError
from web3.providers.async_base import AsyncBaseProvider

from wcx.wallet.chains.port import ChainError

T = TypeVar("T")

RPC_TIMEOUT_S = 15.0


class EthereumRpc:
    """One node connection; every call goes through `call` so failures surface as ChainError."""

    def __init__(self, provider: AsyncBaseProvider) -> None:
        self.w3 = AsyncWeb3(provider)

    @classmethod
    def http(cls, url: str, timeout_s: float = RPC_TIMEOUT_S) -> EthereumRpc:
        """A connection to a node's HTTP JSON-RPC endpoint."""
        # No retries inside web3: the watcher and the withdrawal pipeline retry on their own schedule.
        provider = AsyncHTTPProvider(
            url,
            request_kwargs={"timeout": aiohttp.ClientTimeout(total=timeout_s)},
            exception_retry_configuration=None,
        )
        return cls(provider)

    async def call(self, awaitable: Awaitable[T], *, expect: tuple[type[Exception], ...] = ()) -> T:
        """Await one RPC result; transport and node errors become ChainError naming the cause.

        Exceptions listed in `expect` (answers such as BlockNotFound) reach the caller unchanged.
        """
        try:
            return await awaitable
        except expect:
            raise
        except Web3RPCError as exc:
            raise ChainError(f"ethereum node error: {rpc_message(exc)}") from exc
        except (Web3Exception, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ChainError(f"ethereum node unreachable: {exc!r}") from exc

    async def request(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request (methods web3 has no wrapper for, e.g. evm_mine on dev nodes)."""
        response = await self.call(self.w3.provider.make_request(method, params))  # type: ignore[arg-type]
        if "error" in response:
            raise ChainError(f"ethereum node error: {response['error']}")
        return response.get("result")

    async def close(self) -> None:
        """Close the HTTP session (a no-op for in-process providers)."""
        if isinstance(self.w3.provider, AsyncHTTPProvider):
            await self.w3.provider.disconnect()


def rpc_message(exc: Web3RPCError) -> str:
    """The node's error message out of a Web3RPCError."""
    error = exc.rpc_response.get("error") if exc.rpc_response else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(exc)
