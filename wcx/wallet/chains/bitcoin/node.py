"""`BitcoinNode`: the ChainNode port over bitcoind's JSON-RPC.

Deposits are found with `getblock <hash> 2` (every output of every transaction, no wallet or address
import needed), balances and unspent outputs with `scantxoutset` over the UTXO set, transaction
confirmations with `getrawtransaction` (bitcoind must run with `-txindex=1` to find confirmed ones).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from wcx.wallet.chains.bitcoin.codec import output_address, sat_per_vbyte, to_sats, txid
from wcx.wallet.chains.bitcoin.rpc import (
    RPC_DESERIALIZATION_ERROR,
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_INVALID_PARAMETER,
    RPC_VERIFY_ALREADY_IN_CHAIN,
    RPC_VERIFY_ERROR,
    RPC_VERIFY_REJECTED,
    BitcoinRpc,
    BitcoinRpcError,
)
from wcx.wallet.chains.port import BlockRef, BroadcastRejectedError, ChainError, FeeEstimate, Transfer
from wcx.wallet.config import ChainSpec

CONFIRMATION_TARGET = 6
"""Blocks within which the fee estimate aims to confirm (about an hour)."""
REFUSALS = frozenset({RPC_DESERIALIZATION_ERROR, RPC_VERIFY_ERROR, RPC_VERIFY_REJECTED})
"""bitcoind's answers meaning "this transaction is invalid" (others, e.g. warming up, are transient)."""
FALLBACK_FEE_SAT_VB = 1
"""When the node has no estimate yet (regtest, a fresh node): the relay minimum."""


@dataclass(frozen=True, slots=True)
class Utxo:
    """An unspent output: what a PSBT input needs."""

    txid: str
    vout: int
    amount: int
    script_pubkey: bytes
    height: int


class BitcoinNode:
    """BTC deposits, balances and broadcasting through one bitcoind."""

    def __init__(self, rpc: BitcoinRpc, *, chain: str = "bitcoin", asset: str = "BTC") -> None:
        self.rpc = rpc
        self.chain = chain
        self.asset = asset

    @classmethod
    def from_spec(cls, spec: ChainSpec, rpc: BitcoinRpc | None = None) -> BitcoinNode:
        """A node for a configured chain (over its RPC URL unless a connection is given)."""
        return cls(rpc or BitcoinRpc(spec.rpc_url), chain=spec.name, asset=spec.assets[0].code)

    async def tip(self) -> BlockRef:
        """The newest block."""
        best = await self.rpc.call("getbestblockhash")
        return _ref(await self.rpc.call("getblockheader", best))

    async def block(self, height: int) -> BlockRef | None:
        """The block at `height`, None above the tip."""
        if height < 0:
            return None
        try:
            block_hash = await self.rpc.call("getblockhash", height)
        except BitcoinRpcError as exc:
            if exc.code == RPC_INVALID_PARAMETER:
                return None
            raise
        return _ref(await self.rpc.call("getblockheader", block_hash))

    async def transfers(self, start: int, end: int, addresses: Collection[str]) -> list[Transfer]:
        """Outputs paying `addresses` in blocks start..end (index = the output's vout)."""
        watched = {a.lower() for a in addresses}
        found: list[Transfer] = []
        if not watched:
            return found
        for height in range(max(start, 0), end + 1):
            try:
                block_hash = await self.rpc.call("getblockhash", height)
            except BitcoinRpcError as exc:
                if exc.code == RPC_INVALID_PARAMETER:
                    break  # above the tip
                raise
            block = await self.rpc.call("getblock", block_hash, 2)
            for tx in block["tx"]:
                for vout in tx["vout"]:
                    address = output_address(vout)
                    if address in watched and vout["value"] > 0:
                        found.append(
                            Transfer(
                                chain=self.chain,
                                tx_hash=tx["txid"],
                                index=int(vout["n"]),
                                asset=self.asset,
                                to=address,
                                amount=to_sats(vout["value"]),
                                block_height=int(block["height"]),
                                block_hash=block["hash"],
                            )
                        )
        return found

    async def nonce(self, address: str) -> int:
        """Bitcoin has no account nonces: always 0 (transactions are ordered by the UTXOs they spend)."""
        return 0

    async def balance(self, address: str, asset: str) -> int:
        """Satoshi in the UTXO set paying `address` (confirmed outputs only)."""
        if asset != self.asset:
            raise ChainError(f"{self.chain} carries no asset {asset!r}")
        return sum(u.amount for u in await self.unspent([address]))

    async def unspent(self, addresses: Collection[str]) -> list[Utxo]:
        """Confirmed unspent outputs paying `addresses` (for building transactions)."""
        descriptors = [f"addr({a})" for a in addresses]
        if not descriptors:
            return []
        scan = await self.rpc.call("scantxoutset", "start", descriptors)
        return [
            Utxo(
                txid=u["txid"],
                vout=int(u["vout"]),
                amount=to_sats(u["amount"]),
                script_pubkey=bytes.fromhex(u["scriptPubKey"]),
                height=int(u.get("height", 0)),
            )
            for u in scan.get("unspents", [])
        ]

    async def broadcast(self, raw_tx: bytes) -> str:
        """Send a signed transaction; one the node already has answers with its txid."""
        try:
            known = txid(raw_tx)
        except ValueError as exc:
            raise BroadcastRejectedError(str(exc)) from None
        try:
            return str(await self.rpc.call("sendrawtransaction", raw_tx.hex()))
        except BitcoinRpcError as exc:
            if exc.code == RPC_VERIFY_ALREADY_IN_CHAIN or "already" in exc.message.lower():
                return known
            if exc.code in REFUSALS:
                raise BroadcastRejectedError(f"bitcoind refused the transaction: {exc.message}") from exc
            raise

    async def transaction(self, tx_hash: str) -> int | None:
        """Confirmations (0 in the mempool), None when bitcoind does not know the transaction."""
        try:
            tx = await self.rpc.call("getrawtransaction", tx_hash, True)
        except BitcoinRpcError as exc:
            if exc.code == RPC_INVALID_ADDRESS_OR_KEY:
                return None
            raise
        return int(tx.get("confirmations", 0))

    async def fee_estimate(self) -> FeeEstimate:
        """estimatesmartfee for about an hour, in sat/vB (the relay minimum when the node has no data)."""
        estimate = await self.rpc.call("estimatesmartfee", CONFIRMATION_TARGET)
        rate = estimate.get("feerate")
        sats = sat_per_vbyte(rate) if rate is not None else FALLBACK_FEE_SAT_VB
        return FeeEstimate(rate=sats, tip=0)

    async def estimate_gas(self, sender: str, to: str, value: int = 0, data: bytes = b"") -> int:
        """Bitcoin has no gas: fees are paid per virtual byte (`fee_estimate`), so always 0."""
        return 0

    async def close(self) -> None:
        """Close the RPC session."""
        await self.rpc.close()


def _ref(header: dict[str, object]) -> BlockRef:
    parent = str(header.get("previousblockhash", "00" * 32))
    return BlockRef(int(str(header["height"])), str(header["hash"]), parent)
