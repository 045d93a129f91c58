"""Ethereum specifics beyond the conformance suite: token payments, reverted transactions, bad contracts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from eth_utils import to_checksum_address

from wcx.testing.evm import LocalEvm, NodeLikeProvider, in_process_rpc
from wcx.testing.signers import FakeSigner
from wcx.wallet.chains import CallRevertedError, ChainError, TransactionFailedError
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.chains.ethereum.codec import PLAIN_TRANSFER_GAS, transfer_call
from wcx.wallet.chains.ethereum.node import GAS_MARGIN_PERCENT
from wcx.wallet.chains.ethereum.rpc import EthereumRpc
from wcx.wallet.chains.ethereum.tx import decode, sender_of, verify
from wcx.wallet.signers.ethereum import ethereum_address, sign_ethereum_transaction
from wcx.wallet.withdrawals.ethereum import TOKEN_GAS, Payment, payment_gas, payment_transaction


def on_chain(body: Callable[[LocalEvm, EthereumNode], Awaitable[None]]) -> None:
    """Run `body` against a fresh in-process chain with the test token deployed."""

    async def main() -> None:
        evm = await LocalEvm(in_process_rpc()).start()
        await body(evm, EthereumNode(evm.rpc, tokens={evm.token: "USDT"}))

    asyncio.run(main())


def test_token_payment_signed_through_a_signer_moves_the_tokens() -> None:
    async def body(evm: LocalEvm, node: EthereumNode) -> None:
        signer = FakeSigner(b"hot wallet")
        hot = ethereum_address(signer.public_key())
        await evm.send_eth(hot, 10**18)  # gas
        await evm.send_token(hot, 500 * 10**6)
        customer = "0x" + "5a" * 20
        order = Payment(customer, 120 * 10**6, evm.token)
        payment = payment_transaction(
            order,
            chain_id=await node.chain_id(),
            nonce=await node.nonce(hot),
            fee=await node.fee_estimate(),
            gas=await payment_gas(node, hot, order),
        )
        signed = sign_ethereum_transaction(signer, payment)
        assert sender_of(signed.raw) == hot and verify(signed.raw, payment, hot)
        assert decode(signed.raw)["to"] == evm.token
        assert not verify(signed.raw, {**payment, "nonce": 7}, hot)  # not what was meant
        assert not verify(signed.raw, payment, "0x" + "11" * 20)  # not who was meant
        assert not verify(b"garbage", payment, hot)
        tx_hash = await node.broadcast(signed.raw)
        assert tx_hash == "0x" + signed.tx_hash.hex()
        assert await node.transaction(tx_hash) == 1  # eth-tester mines on arrival
        assert await node.balance(customer, "USDT") == 120 * 10**6
        assert await node.balance(hot, "USDT") == 380 * 10**6
        assert await node.nonce(hot) == 1
        [transfer] = await node.transfers(0, await evm.height(), [customer])
        assert (transfer.asset, transfer.amount, transfer.sender) == ("USDT", 120 * 10**6, hot)

    on_chain(body)


def test_a_reverted_transaction_is_failed_not_confirmed() -> None:
    async def body(evm: LocalEvm, node: EthereumNode) -> None:
        signer = FakeSigner(b"empty token balance")
        hot = ethereum_address(signer.public_key())
        await evm.send_eth(hot, 10**18)
        order = Payment("0x" + "5b" * 20, 1, evm.token)  # the signer holds no tokens: the transfer reverts
        with pytest.raises(CallRevertedError):
            await node.estimate_gas(hot, evm.token, 0, transfer_call(order.to, 1))
        gas = await payment_gas(node, hot, order)
        assert gas == TOKEN_GAS  # the fixed ceiling: the balance checks, not the estimate, name the cause
        payment = payment_transaction(
            order, chain_id=await node.chain_id(), nonce=0, fee=await node.fee_estimate(), gas=gas
        )
        tx_hash = await node.broadcast(sign_ethereum_transaction(signer, payment).raw)
        with pytest.raises(TransactionFailedError):
            await node.transaction(tx_hash)
        assert await node.transfers(0, await evm.height(), ["0x" + "5b" * 20]) == []

    on_chain(body)


def test_balance_of_a_token_without_a_contract_is_a_chain_error() -> None:
    async def body(evm: LocalEvm, node: EthereumNode) -> None:
        broken = EthereumNode(evm.rpc, tokens={"0x" + "77" * 20: "USDT"})
        with pytest.raises(ChainError, match="ERC-20"):
            await broken.balance(evm.funder, "USDT")
        with pytest.raises(ChainError, match="no asset"):
            await node.balance(evm.funder, "BTC")

    on_chain(body)


class CappedProvider(NodeLikeProvider):
    """Refuses eth_getLogs over more than two blocks, as hosted nodes cap ranges; records each range."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[int, int]] = []

    async def make_request(self, method: Any, params: Any) -> Any:
        """The tester's answer, or a range error for a wide eth_getLogs."""
        if method == "eth_getLogs":
            # the tester's middleware has already turned the JSON-RPC filter into python values
            start, end = int(params[0]["from_block"]), int(params[0]["to_block"])
            self.ranges.append((start, end))
            if end - start > 1:
                return {"id": 0, "jsonrpc": "2.0", "error": {"code": -32005, "message": "range too wide"}}
        return await super().make_request(method, params)


def test_log_queries_are_split_when_the_provider_caps_their_range() -> None:
    async def main() -> None:
        provider = CappedProvider()
        evm = await LocalEvm(EthereumRpc(provider)).start()
        node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
        ours = "0x" + "6c" * 20
        for amount in (1, 2, 3):
            await evm.send_token(ours, amount)
        tip = await evm.height()
        found = await node.transfers(0, tip, [ours])
        assert sorted(t.amount for t in found) == [1, 2, 3]
        assert provider.ranges[0] == (0, tip)  # refused, then halved until each part passes
        accepted = [(s, e) for s, e in provider.ranges if e - s <= 1]
        assert sorted(b for s, e in accepted for b in range(s, e + 1)) == list(range(tip + 1))

    asyncio.run(main())


def test_gas_estimates_carry_a_margin_except_for_a_plain_transfer() -> None:
    async def body(evm: LocalEvm, node: EthereumNode) -> None:
        holder, fresh = "0x" + "6a" * 20, "0x" + "6b" * 20
        await evm.send_token(holder, 10**6)
        assert await node.estimate_gas(fresh, holder) == PLAIN_TRANSFER_GAS  # an empty sender is fine
        call = transfer_call(to_checksum_address(fresh), 10**6)
        raw = await node.w3.eth.estimate_gas(
            {"from": to_checksum_address(holder), "to": evm.token, "data": "0x" + call.hex(), "gasPrice": 0}
        )
        estimate = await node.estimate_gas(holder, evm.token, 0, call)
        assert raw > PLAIN_TRANSFER_GAS
        assert estimate == -(-raw * (100 + GAS_MARGIN_PERCENT) // 100)

    on_chain(body)
