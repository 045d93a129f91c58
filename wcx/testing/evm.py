"""A local EVM to test against: eth-tester with py-evm in-process, or any dev node (hardhat) over HTTP.

`LocalEvm` drives the chain through JSON-RPC only (unlocked dev accounts, `evm_mine`,
`evm_snapshot` / `evm_revert`), so the same helpers serve the in-process tester and a `hardhat node`.
The ERC-20 it deploys is OpenZeppelin's `ERC20` with 6 decimals (`data/TestUSDT.sol`, bytecode and
ABI precompiled in `data/TestUSDT.json`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

from wcx.wallet.chains.ethereum.codec import hex0x, transfer_call
from wcx.wallet.chains.ethereum.rpc import EthereumRpc

TOKEN_ARTIFACT = Path(__file__).with_name("data") / "TestUSDT.json"
TOKEN_SUPPLY = 10**15  # 1e9 USDT in base units


@cache
def token_artifact() -> dict[str, Any]:
    """ABI and creation bytecode of the test ERC-20."""
    with TOKEN_ARTIFACT.open(encoding="utf-8") as fh:
        artifact: dict[str, Any] = json.load(fh)
    return artifact


class NodeLikeProvider(AsyncEthereumTesterProvider):
    """eth-tester raises Python exceptions where a node answers a JSON-RPC error (an invalid raw
    transaction, a nonce too low); answer like a node so adapters see one behaviour."""

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        """The tester's answer, or a JSON-RPC error object carrying the exception's message."""
        try:
            return await super().make_request(method, params)
        except Exception as exc:
            return {"id": 0, "jsonrpc": "2.0", "error": {"code": -32000, "message": str(exc)}}


def in_process_rpc() -> EthereumRpc:
    """A fresh in-process chain (eth-tester + py-evm) behind the JSON-RPC interface."""
    return EthereumRpc(NodeLikeProvider())


class LocalEvm:
    """Test helpers over a development chain reachable through `rpc`."""

    def __init__(self, rpc: EthereumRpc) -> None:
        self.rpc = rpc
        self.w3 = rpc.w3
        self.funder = ""
        self.token = ""

    async def start(self, *, deploy_token: bool = True) -> LocalEvm:
        """Pick the funded account and deploy the test token."""
        accounts = await self.rpc.call(self.w3.eth.accounts)
        self.funder = to_checksum_address(accounts[0])
        if deploy_token:
            artifact = token_artifact()
            contract = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
            tx = await contract.constructor(TOKEN_SUPPLY).transact({"from": self.funder})
            receipt = await self.w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)
            self.token = to_checksum_address(receipt["contractAddress"])
        return self

    async def _send(self, tx: dict[str, Any]) -> str:
        tx_hash = await self.rpc.call(self.w3.eth.send_transaction({"from": self.funder, **tx}))
        receipt = await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        if receipt["status"] != 1:
            raise RuntimeError(f"test transaction reverted: {tx}")
        return hex0x(tx_hash)

    async def send_eth(self, to: str, wei: int) -> str:
        """Pay ETH from the funded account (mined at once on auto-mining dev chains); the tx hash."""
        return await self._send({"to": to_checksum_address(to), "value": wei})

    async def send_token(self, to: str, amount: int) -> str:
        """Pay test-token base units from the funded account; the tx hash."""
        return await self._send(
            {"to": self.token, "data": hex0x(transfer_call(to_checksum_address(to), amount))}
        )

    async def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks."""
        for _ in range(blocks):
            await self.rpc.request("evm_mine", [])

    async def height(self) -> int:
        """The newest block number."""
        return int(await self.rpc.call(self.w3.eth.block_number))

    async def snapshot(self) -> Any:
        """Remember the chain state (for a reorg: revert, then mine a different, longer chain)."""
        return await self.rpc.request("evm_snapshot", [])

    async def revert(self, snapshot: Any) -> None:
        """Go back to a snapshot: every block after it disappears."""
        await self.rpc.request("evm_revert", [snapshot])
