"""`EthereumNode`: the ChainNode port over JSON-RPC (native ETH and ERC-20 tokens)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3.exceptions import BlockNotFound, ContractLogicError, TransactionNotFound, Web3RPCError

from wcx.wallet.chains.ethereum.codec import (
    PLAIN_TRANSFER_GAS,
    TRANSFER_TOPIC,
    balance_of_call,
    decode_transfer,
    hex0x,
    word,
)
from wcx.wallet.chains.ethereum.rpc import EthereumRpc, rpc_message
from wcx.wallet.chains.port import (
    NATIVE_INDEX,
    BlockRef,
    BroadcastRejectedError,
    CallRevertedError,
    ChainError,
    FeeEstimate,
    TransactionFailedError,
    Transfer,
)
from wcx.wallet.config import ChainSpec

GAS_MARGIN_PERCENT = 20
"""Added to the node's gas estimate of a call that runs code: storage state can change before it is mined."""
RECEIPT_CONCURRENCY = 8
"""Receipts fetched at once when checking native transfers (one per matching transaction)."""


class EthereumNode:
    """ETH and ERC-20 transfers, balances, nonces and broadcasting through one JSON-RPC node."""

    def __init__(
        self,
        rpc: EthereumRpc,
        *,
        chain: str = "ethereum",
        native: str = "ETH",
        tokens: Mapping[str, str] = {},
    ) -> None:
        self.rpc = rpc
        self.chain = chain
        self.native = native
        # contract address (checksummed) -> asset code
        self.tokens = {to_checksum_address(contract): code for contract, code in tokens.items()}
        self._contract_of = {code: contract for contract, code in self.tokens.items()}

    @classmethod
    def from_spec(cls, spec: ChainSpec, rpc: EthereumRpc | None = None) -> EthereumNode:
        """A node for a configured chain (over its RPC URL unless a connection is given)."""
        native = next(a.code for a in spec.assets if not a.token)
        tokens = {a.contract: a.code for a in spec.assets if a.token and a.contract}
        return cls(rpc or EthereumRpc.http(spec.rpc_url), chain=spec.name, native=native, tokens=tokens)

    @property
    def w3(self) -> Any:
        """The underlying AsyncWeb3 (for callers that need web3 directly, e.g. tests)."""
        return self.rpc.w3

    async def chain_id(self) -> int:
        """The chain id transactions must be signed for (EIP-155)."""
        return int(await self.rpc.call(self.w3.eth.chain_id))

    async def tip(self) -> BlockRef:
        """The newest block."""
        return _ref(await self.rpc.call(self.w3.eth.get_block("latest")))

    async def block(self, height: int) -> BlockRef | None:
        """The block at `height`, None above the tip."""
        try:
            return _ref(await self.rpc.call(self.w3.eth.get_block(height), expect=(BlockNotFound,)))
        except BlockNotFound:
            return None

    async def transfers(self, start: int, end: int, addresses: Collection[str]) -> list[Transfer]:
        """Successful native and token transfers to `addresses` in blocks start..end."""
        watched = {a.lower() for a in addresses}
        if watched and end >= start:  # nothing exists above the tip
            end = min(end, int(await self.rpc.call(self.w3.eth.block_number)))
        if not watched or end < start:
            return []
        found = await self._native(start, end, watched)
        if self.tokens:
            found += await self._tokens(start, end, watched)
        return sorted(found, key=lambda t: (t.block_height, t.index, t.tx_hash))

    async def _native(self, start: int, end: int, watched: set[str]) -> list[Transfer]:
        candidates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for height in range(start, end + 1):
            block = await self.rpc.call(self.w3.eth.get_block(height, full_transactions=True))
            for tx in block["transactions"]:
                if tx.get("to") and tx["to"].lower() in watched and tx["value"] > 0:
                    candidates.append((block, tx))
        limit = asyncio.Semaphore(RECEIPT_CONCURRENCY)

        async def receipt(tx: dict[str, Any]) -> Any:
            async with limit:
                return await self.rpc.call(self.w3.eth.get_transaction_receipt(tx["hash"]))

        receipts = await asyncio.gather(*(receipt(tx) for _, tx in candidates))
        return [
            Transfer(
                chain=self.chain,
                tx_hash=hex0x(tx["hash"]),
                index=NATIVE_INDEX,
                asset=self.native,
                to=to_checksum_address(tx["to"]),
                amount=int(tx["value"]),
                block_height=int(block["number"]),
                block_hash=hex0x(block["hash"]),
                sender=to_checksum_address(tx["from"]),
            )
            for (block, tx), rcpt in zip(candidates, receipts, strict=True)
            if rcpt["status"] == 1  # a reverted call keeps its value
        ]

    async def _tokens(self, start: int, end: int, watched: set[str]) -> list[Transfer]:
        logs = await self._transfer_logs(start, end)
        found = []
        for log in logs:
            decoded = decode_transfer(log)
            if decoded is None or log.get("removed"):
                continue
            sender, to, amount = decoded
            if to.lower() not in watched or amount == 0:
                continue
            found.append(
                Transfer(
                    chain=self.chain,
                    tx_hash=hex0x(log["transactionHash"]),
                    index=int(log["logIndex"]),
                    asset=self.tokens[to_checksum_address(log["address"])],
                    to=to,
                    amount=amount,
                    block_height=int(log["blockNumber"]),
                    block_hash=hex0x(log["blockHash"]),
                    sender=sender,
                )
            )
        return found

    async def _transfer_logs(self, start: int, end: int) -> list[Any]:
        """Every Transfer log of our contracts in start..end, filtered by the caller.

        A topic filter listing every deposit address would exceed what nodes accept once there are
        many users. Providers also cap a query's range or result size: a refused range is halved
        until it passes (a single refused block is a real error).
        """
        query = {"fromBlock": start, "toBlock": end, "address": list(self.tokens), "topics": [TRANSFER_TOPIC]}
        try:
            return list(await self.rpc.call(self.w3.eth.get_logs(query)))
        except ChainError:
            if start == end:
                raise
        middle = (start + end) // 2
        return await self._transfer_logs(start, middle) + await self._transfer_logs(middle + 1, end)

    async def nonce(self, address: str) -> int:
        """The next nonce of `address`, counting its pending transactions."""
        return int(
            await self.rpc.call(self.w3.eth.get_transaction_count(to_checksum_address(address), "pending"))
        )

    async def balance(self, address: str, asset: str) -> int:
        """ETH (wei) or token base units held by `address` at the newest block."""
        owner = to_checksum_address(address)
        if asset == self.native:
            return int(await self.rpc.call(self.w3.eth.get_balance(owner)))
        contract = self._contract_of.get(asset)
        if contract is None:
            raise ChainError(f"{self.chain} carries no asset {asset!r}")
        result = await self.rpc.call(
            self.w3.eth.call({"to": contract, "data": hex0x(balance_of_call(owner))})
        )
        try:
            return word(result)
        except ValueError:  # no contract at that address (empty answer) or a non-ERC-20 one
            raise ChainError(f"{contract} did not answer balanceOf like an ERC-20") from None

    async def broadcast(self, raw_tx: bytes) -> str:
        """Send a signed raw transaction; a node that already has it answers with the same hash."""
        tx_hash = hex0x(keccak(raw_tx))
        try:
            sent = await self.rpc.call(self.w3.eth.send_raw_transaction(raw_tx), expect=(Web3RPCError,))
        except Web3RPCError as exc:
            if await self._known(tx_hash):  # "already known" / "nonce too low" for our own transaction
                return tx_hash
            reason = rpc_message(exc)
            raise BroadcastRejectedError(f"ethereum node refused the transaction: {reason}") from exc
        return hex0x(sent)

    async def _known(self, tx_hash: str) -> bool:
        try:
            await self.rpc.call(self.w3.eth.get_transaction(tx_hash), expect=(TransactionNotFound,))
        except TransactionNotFound:
            return False
        return True

    async def transaction(self, tx_hash: str) -> int | None:
        """Confirmations (0 while pending), None if unknown; TransactionFailedError if it reverted."""
        try:
            receipt = await self.rpc.call(
                self.w3.eth.get_transaction_receipt(tx_hash), expect=(TransactionNotFound,)
            )
        except TransactionNotFound:
            return 0 if await self._known(tx_hash) else None
        if receipt.get("blockNumber") is None:
            return 0
        if receipt["status"] != 1:
            raise TransactionFailedError(f"{tx_hash} reverted in block {receipt['blockNumber']}")
        tip = await self.rpc.call(self.w3.eth.block_number)
        return max(0, int(tip) - int(receipt["blockNumber"]) + 1)

    async def fee_estimate(self) -> FeeEstimate:
        """EIP-1559: max fee = 2 x the newest base fee + the node's suggested priority fee."""
        latest = await self.rpc.call(self.w3.eth.get_block("latest"))
        tip = int(await self.rpc.call(self.w3.eth.max_priority_fee))
        base = int(latest.get("baseFeePerGas", 0))
        return FeeEstimate(rate=2 * base + tip, tip=tip)

    async def estimate_gas(self, sender: str, to: str, value: int = 0, data: bytes = b"") -> int:
        """eth_estimateGas plus GAS_MARGIN_PERCENT (a plain 21 000-gas transfer is exact and kept as is)."""
        call = {
            "from": to_checksum_address(sender),
            "to": to_checksum_address(to),
            "value": value,
            "data": hex0x(data),
            # A zero price estimates without the sender holding gas money yet (a deposit address
            # before its gas top-up); nodes skip the balance check for it.
            "gasPrice": 0,
        }
        try:
            gas = int(await self.rpc.call(self.w3.eth.estimate_gas(call), expect=(ContractLogicError,)))
        except ContractLogicError as exc:
            raise CallRevertedError(f"the call from {sender} to {to} would revert: {exc}") from exc
        if gas == PLAIN_TRANSFER_GAS:
            return gas
        return -(-gas * (100 + GAS_MARGIN_PERCENT) // 100)

    async def close(self) -> None:
        """Close the node connection."""
        await self.rpc.close()


def _ref(block: Mapping[str, Any]) -> BlockRef:
    return BlockRef(int(block["number"]), hex0x(block["hash"]), hex0x(block["parentHash"]))
