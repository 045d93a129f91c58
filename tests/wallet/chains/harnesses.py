"""One harness per ChainNode adapter: how to pay, mine, fork and sign on that chain in a test.

The conformance suite talks to the adapter only through the port and drives the chain only
through these harnesses, so every adapter answers exactly the same questions.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from embit.ec import PrivateKey, PublicKey
from embit.networks import NETWORKS
from embit.script import p2wpkh

from wcx.testing.bitcoind import FakeBitcoind
from wcx.testing.chain import FakeChainNode
from wcx.testing.evm import LocalEvm, in_process_rpc
from wcx.testing.signers import FakeSigner
from wcx.wallet.chains.bitcoin import BitcoinNode
from wcx.wallet.chains.bitcoin import tx as btc_tx
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc, BitcoinRpcError
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.chains.ethereum import tx as eth_tx
from wcx.wallet.chains.ethereum.rpc import EthereumRpc
from wcx.wallet.chains.port import ChainNode, FeeEstimate
from wcx.wallet.signers.ethereum import ethereum_address, sign_ethereum_transaction
from wcx.wallet.withdrawals.ethereum import Payment, payment_gas, payment_transaction


class Harness(Protocol):
    """Drives one chain behind `node`."""

    node: ChainNode
    assets: tuple[str, ...]
    garbage: bytes
    transfer_gas: int
    """What `estimate_gas` answers for a plain payment: 21 000 on Ethereum, 0 without gas."""

    async def fresh_address(self) -> str: ...
    async def pay(self, to: str, asset: str, amount: int) -> str: ...
    async def mine(self, blocks: int) -> None: ...
    async def snapshot(self) -> Any: ...
    async def revert(self, snapshot: Any) -> None: ...
    async def signed_tx(self) -> bytes: ...
    def unreachable(self) -> ChainNode: ...
    async def close(self) -> None: ...


class FakeHarness:
    """The in-memory fake from wcx.testing."""

    garbage = b""
    transfer_gas = 21_000

    def __init__(self) -> None:
        self.fake = FakeChainNode("ethereum", ("ETH", "USDT"))
        self.node: ChainNode = self.fake
        self.assets = ("ETH", "USDT")
        self._ids = itertools.count(1)

    async def fresh_address(self) -> str:
        return "0x" + secrets.token_hex(20)

    async def pay(self, to: str, asset: str, amount: int) -> str:
        tx_hash = self.fake.pay(to, amount, asset)
        self.fake.mine()
        return tx_hash

    async def mine(self, blocks: int) -> None:
        self.fake.mine(blocks)

    async def snapshot(self) -> Any:
        return self.fake.height

    async def revert(self, snapshot: Any) -> None:
        self.fake.rewind(snapshot)

    async def signed_tx(self) -> bytes:
        return f"signed-{next(self._ids)}".encode()

    def unreachable(self) -> ChainNode:
        offline = FakeChainNode()
        offline.offline = True
        return offline

    async def close(self) -> None:
        pass


class EthereumHarness:
    """EthereumNode over an in-process py-evm chain (eth-tester), or a dev node given its RPC."""

    garbage = b"\x02\xf8\x01not-a-transaction"
    transfer_gas = 21_000

    def __init__(self, rpc: EthereumRpc | None = None) -> None:
        self.evm = LocalEvm(rpc or in_process_rpc())
        self.node: ChainNode = EthereumNode(self.evm.rpc)
        self.assets = ("ETH", "USDT")

    async def start(self) -> EthereumHarness:
        await self.evm.start()
        self.node = EthereumNode(self.evm.rpc, tokens={self.evm.token: "USDT"})
        return self

    async def fresh_address(self) -> str:
        return "0x" + secrets.token_hex(20)

    async def pay(self, to: str, asset: str, amount: int) -> str:
        if asset == "ETH":
            return await self.evm.send_eth(to, amount)
        return await self.evm.send_token(to, amount)

    async def mine(self, blocks: int) -> None:
        await self.evm.mine(blocks)

    async def snapshot(self) -> Any:
        return await self.evm.snapshot()

    async def revert(self, snapshot: Any) -> None:
        await self.evm.revert(snapshot)

    async def signed_tx(self) -> bytes:
        """A payment built by `ethereum.tx` and signed through a Signer whose address was funded."""
        signer = FakeSigner(secrets.token_bytes(16))
        sender = ethereum_address(signer.public_key())
        await self.evm.send_eth(sender, 10**18)
        fee = await self.node.fee_estimate()
        payment = Payment("0x" + secrets.token_hex(20), 12345)
        transaction = payment_transaction(
            payment,
            chain_id=await self.node.chain_id(),  # type: ignore[attr-defined]
            nonce=await self.node.nonce(sender),
            fee=FeeEstimate(fee.rate, fee.tip),
            gas=await payment_gas(self.node, sender, payment),
        )
        signed = sign_ethereum_transaction(signer, transaction)
        assert eth_tx.verify(signed.raw, transaction, sender)
        return signed.raw

    def unreachable(self) -> ChainNode:
        return EthereumNode(EthereumRpc.http("http://127.0.0.1:9/", timeout_s=2))

    async def close(self) -> None:
        await self.node.close()


def regtest_address(public: bytes | None = None) -> str:
    """A P2WPKH regtest address (of `public`, else of a fresh random key)."""
    key = PublicKey.parse(public) if public else PrivateKey(secrets.token_bytes(32)).get_public_key()
    return str(p2wpkh(key).address(NETWORKS["regtest"]))


class BitcoinHarness:
    """BitcoinNode over bitcoind's RPC: the fake from wcx.testing, or a real regtest bitcoind.

    Only RPC drives the chain (sendtoaddress, generatetoaddress, invalidateblock, generateblock), so
    both backends run the same steps. After a revert, blocks are mined empty (`generateblock` with no
    transactions): the reverted payments wait in the mempool instead of reappearing in the fork.
    """

    garbage = b"\x00\x01not-a-transaction"
    transfer_gas = 0

    def __init__(self, url: str, closer: Any) -> None:
        self.rpc = BitcoinRpc(url)
        self.node: ChainNode = BitcoinNode(self.rpc)
        self.assets = ("BTC",)
        self._closer = closer
        self._miner = regtest_address()
        self._empty_blocks = False

    async def fresh_address(self) -> str:
        return regtest_address()

    async def pay(self, to: str, asset: str, amount: int) -> str:
        txid = str(await self.rpc.call("sendtoaddress", to, Decimal(amount) / 10**8))
        await self.rpc.call("generatetoaddress", 1, self._miner)
        return txid

    async def mine(self, blocks: int) -> None:
        for _ in range(blocks):
            if self._empty_blocks:
                await self.rpc.call("generateblock", self._miner, [])
            else:
                await self.rpc.call("generatetoaddress", 1, self._miner)

    async def snapshot(self) -> Any:
        return (await self.node.tip()).height

    async def revert(self, snapshot: Any) -> None:
        await self.rpc.call("invalidateblock", await self.rpc.call("getblockhash", snapshot + 1))
        self._empty_blocks = True

    async def mine_mempool(self) -> None:
        """Mine one block with whatever waits in the mempool (e.g. payments a revert put back)."""
        await self.rpc.call("generatetoaddress", 1, self._miner)

    async def signed_tx(self) -> bytes:
        """A PSBT payment from a Signer's funded P2WPKH address, signed, finalised and verified offline."""
        signer = FakeSigner(secrets.token_bytes(16))
        own = regtest_address(signer.public_key())
        await self.pay(own, "BTC", 100_000)
        utxos = await self.node.unspent([own])  # type: ignore[attr-defined]
        payment = btc_tx.build_payment(utxos, [(regtest_address(), 40_000)], own, fee_rate=2)
        assert btc_tx.sign_payment(payment.psbt, signer) == len(payment.spent)
        raw = btc_tx.finalize(payment.psbt)
        assert btc_tx.verify(raw, payment.spent)
        return raw

    def unreachable(self) -> ChainNode:
        return BitcoinNode(BitcoinRpc("http://user:pass@127.0.0.1:9/", timeout_s=2))

    async def close(self) -> None:
        await self.node.close()
        await self._closer()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def real_bitcoind(binary: str) -> BitcoinHarness:
    """A regtest bitcoind from BITCOIND_PATH in a temporary data dir, with a funded wallet."""
    datadir = Path(tempfile.mkdtemp(prefix="wcx-bitcoind-"))
    port, rpc_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            binary,
            "-regtest",
            f"-datadir={datadir}",
            f"-port={port}",
            f"-rpcport={rpc_port}",
            "-rpcbind=127.0.0.1",
            "-rpcallowip=127.0.0.1",
            "-rpcuser=wcx",
            "-rpcpassword=secret",
            "-txindex=1",
            "-fallbackfee=0.0001",
            "-listen=0",
            "-printtoconsole=0",
        ]
    )

    async def close() -> None:
        process.terminate()
        await asyncio.to_thread(process.wait, 30)
        shutil.rmtree(datadir, ignore_errors=True)

    base = f"http://wcx:secret@127.0.0.1:{rpc_port}/"
    probe = BitcoinRpc(base)
    for _ in range(200):
        try:
            await probe.call("getblockcount")
            break
        except BitcoinRpcError as exc:
            if exc.code != -28:  # still warming up
                raise
        except Exception:
            pass
        await asyncio.sleep(0.1)
    await probe.call("createwallet", "miner")
    await probe.close()
    harness = BitcoinHarness(base + "wallet/miner", close)
    miner = await harness.rpc.call("getnewaddress")
    await harness.rpc.call("generatetoaddress", 101, miner)
    return harness


async def make_harness(name: str) -> Harness:
    """A started harness for the adapter called `name`."""
    if name == "fake":
        return FakeHarness()
    if name == "ethereum":
        return await EthereumHarness().start()
    if name == "bitcoin":
        fake = await FakeBitcoind().start()
        return BitcoinHarness(fake.url, fake.stop)
    if name == "bitcoin-real":
        return await real_bitcoind(os.environ["BITCOIND_PATH"])
    raise ValueError(name)
