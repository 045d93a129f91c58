"""`FakeBitcoind`: bitcoind's JSON-RPC served over HTTP on 127.0.0.1, backed by an in-memory chain.

It sits at the RPC boundary, so `BitcoinNode` and `BitcoinRpc` run unchanged against it (HTTP, basic
auth, error codes, BTC amounts as exact JSON decimals). Raw transactions sent to it are parsed with
embit: their inputs must spend known unspent outputs and their outputs become spendable once mined,
so a PSBT built, signed and finalised offline can be broadcast and confirmed here. `pay` (or the
`sendtoaddress` RPC) creates a synthetic payment (no inputs) for deposit tests; `invalidateblock`
makes reorgs as in regtest. Replace-by-fee follows BIP125 as bitcoind does: a transaction spending an
output a mempool transaction already spends replaces it (evicting it) only if every one it conflicts
with signals replaceability and it pays their fees plus 1 sat/vB of its own size; `mine_transaction`
plays a miner that saw another version first.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web
from embit.networks import NETWORKS
from embit.script import Script
from embit.transaction import Transaction, TransactionInput

from wcx.wallet.chains.bitcoin.rpc import basic_auth

SATS = 10**8
INCREMENTAL_RELAY_FEE = 1  # sat/vB, bitcoind's default
_DECIMAL = re.compile(r'"__decimal__(-?[0-9.]+)"')
HRP_NETWORK = {"bc": "main", "tb": "test", "bcrt": "regtest"}


class RpcFailureError(Exception):
    """An RPC error reply."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Tx:
    txid: str
    outputs: list[tuple[bytes, int]]  # (scriptPubKey, sats)
    inputs: list[tuple[str, int]] = field(default_factory=list)
    raw: bytes = b""
    fee: int = 0
    replaceable: bool = False


@dataclass
class _Block:
    hash: str
    height: int
    prev: str
    txs: list[_Tx]


def _vsize(tx: Transaction) -> int:
    """Virtual size: (3 x the size without witnesses + the full size) / 4, rounded up."""
    stripped = Transaction(
        tx.version,
        [TransactionInput(v.txid, v.vout, v.script_sig, v.sequence) for v in tx.vin],
        tx.vout,
        tx.locktime,
    )
    return -(-(3 * len(stripped.serialize()) + len(tx.serialize())) // 4)


def _btc(sats: int) -> Decimal:
    return (Decimal(sats) / SATS).quantize(Decimal("0.00000001"))


class FakeBitcoind:
    """A regtest-like bitcoind for tests; `url` (with credentials) is ready after `start()`."""

    def __init__(self, network: str = "regtest", user: str = "wcx", password: str = "secret") -> None:
        self.network = NETWORKS[network]
        self.user, self.password = user, password
        self.fee_rate: Decimal | None = None  # BTC/kvB for estimatesmartfee; None: "insufficient data"
        self.calls: list[str] = []
        self._fork = 0
        genesis = _Block(self._hash("genesis", 0), 0, "00" * 32, [])
        self.blocks: list[_Block] = [genesis]
        self.mempool: list[_Tx] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> FakeBitcoind:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/", self._handle)
        app.router.add_post("/wallet/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.user}:{self.password}@127.0.0.1:{port}/"
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- test controls ----------------------------------------------------------------------------

    def script_of(self, address: str) -> bytes:
        """The scriptPubKey paying `address` (bech32 on this network)."""
        from embit.script import address_to_scriptpubkey

        return bytes(address_to_scriptpubkey(address).data)

    def pay(self, address: str, sats: int) -> str:
        """A synthetic payment to `address` into the mempool (mined by the next generate); its txid."""
        tx = _Tx(secrets.token_hex(32), [(self.script_of(address), sats)])
        self.mempool.append(tx)
        return tx.txid

    def mine(self, count: int = 1, *, include_mempool: bool = True) -> str:
        """Mine blocks (the first takes the mempool unless told not to); the new tip's hash."""
        for n in range(count):
            tip = self.blocks[-1]
            txs = self.mempool if include_mempool and n == 0 else []
            if txs:
                self.mempool = []
            height = tip.height + 1
            self.blocks.append(
                _Block(self._hash(tip.hash, height, *(t.txid for t in txs)), height, tip.hash, txs)
            )
        return self.blocks[-1].hash

    def mine_transaction(self, raw: bytes) -> str:
        """Mine a block holding `raw`, dropping what conflicts with it from the mempool; the new tip."""
        parsed = Transaction.parse(raw)
        spends = {(vin.txid.hex(), vin.vout) for vin in parsed.vin}
        self.mempool = [t for t in self.mempool if not spends & set(t.inputs)]
        self._send(raw.hex())
        return self.mine(1)

    def invalidate(self, height: int) -> None:
        """Drop the blocks from `height` on; their transactions return to the mempool (as bitcoind does)."""
        dropped = self.blocks[height:]
        del self.blocks[height:]
        self._fork += 1
        self.mempool = [tx for block in dropped for tx in block.txs] + self.mempool

    # --- chain queries ----------------------------------------------------------------------------

    def _hash(self, *parts: object) -> str:
        return hashlib.sha256("|".join(map(str, (self._fork, *parts))).encode()).hexdigest()

    def _address(self, script: bytes) -> str:
        try:
            return str(Script(script).address(self.network))
        except Exception:
            return ""

    def _unspent(self) -> dict[tuple[str, int], tuple[bytes, int, int]]:
        """(txid, vout) -> (script, sats, height) over the best chain."""
        utxos: dict[tuple[str, int], tuple[bytes, int, int]] = {}
        for block in self.blocks:
            for tx in block.txs:
                for outpoint in tx.inputs:
                    utxos.pop(outpoint, None)
                for n, (script, sats) in enumerate(tx.outputs):
                    utxos[(tx.txid, n)] = (script, sats, block.height)
        return utxos

    def _find(self, txid: str) -> tuple[_Tx, int | None] | None:
        for tx in self.mempool:
            if tx.txid == txid:
                return tx, None
        for block in self.blocks:
            for tx in block.txs:
                if tx.txid == txid:
                    return tx, block.height
        return None

    def _block_by_hash(self, block_hash: str) -> _Block:
        for block in self.blocks:
            if block.hash == block_hash:
                return block
        raise RpcFailureError(-5, "Block not found")

    def _header(self, block: _Block) -> dict[str, Any]:
        header: dict[str, Any] = {
            "hash": block.hash,
            "height": block.height,
            "confirmations": self.blocks[-1].height - block.height + 1,
        }
        if block.height > 0:
            header["previousblockhash"] = block.prev
        return header

    def _decoded(self, tx: _Tx) -> dict[str, Any]:
        return {
            "txid": tx.txid,
            "vin": [{"txid": t, "vout": v} for t, v in tx.inputs],
            "vout": [
                {
                    "value": _btc(sats),
                    "n": n,
                    "scriptPubKey": {"hex": script.hex(), "address": self._address(script)},
                }
                for n, (script, sats) in enumerate(tx.outputs)
            ],
        }

    # --- RPC ----------------------------------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Any:
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            raise RpcFailureError(-32601, "Method not found")
        return handler(*params)

    def _rpc_getbestblockhash(self) -> str:
        return self.blocks[-1].hash

    def _rpc_getblockcount(self) -> int:
        return self.blocks[-1].height

    def _rpc_getblockhash(self, height: int) -> str:
        if not 0 <= height < len(self.blocks):
            raise RpcFailureError(-8, "Block height out of range")
        return self.blocks[height].hash

    def _rpc_getblockheader(self, block_hash: str) -> dict[str, Any]:
        return self._header(self._block_by_hash(block_hash))

    def _rpc_getblock(self, block_hash: str, verbosity: int = 1) -> dict[str, Any]:
        block = self._block_by_hash(block_hash)
        txs = [self._decoded(t) if verbosity >= 2 else t.txid for t in block.txs]
        return {**self._header(block), "tx": txs}

    def _rpc_scantxoutset(self, action: str, descriptors: list[str]) -> dict[str, Any]:
        wanted = {d.removeprefix("addr(").removesuffix(")").lower() for d in descriptors}
        unspents = [
            {"txid": txid, "vout": vout, "scriptPubKey": script.hex(), "amount": _btc(sats), "height": height}
            for (txid, vout), (script, sats, height) in self._unspent().items()
            if self._address(script).lower() in wanted
        ]
        total = sum((u["amount"] for u in unspents), Decimal(0))
        return {"success": action == "start", "unspents": unspents, "total_amount": total}

    def _rpc_getrawtransaction(self, txid: str, verbose: bool = False) -> Any:
        found = self._find(txid)
        if found is None:
            raise RpcFailureError(-5, "No such mempool or blockchain transaction")
        tx, height = found
        if not verbose:
            return tx.raw.hex()
        decoded = self._decoded(tx)
        if height is not None:
            decoded["confirmations"] = self.blocks[-1].height - height + 1
            decoded["blockhash"] = self.blocks[height].hash
        return decoded

    def _rpc_estimatesmartfee(self, target: int) -> dict[str, Any]:
        if self.fee_rate is None:
            return {"errors": ["Insufficient data or no feerate found"], "blocks": target}
        return {"feerate": self.fee_rate, "blocks": target}

    def _coinbase(self, address: str) -> _Tx:
        return _Tx(secrets.token_hex(32), [(self.script_of(address), 50 * SATS)])

    def _rpc_generatetoaddress(self, count: int, address: str) -> list[str]:
        for _ in range(count):
            self.mempool.insert(0, self._coinbase(address))
            self.mine(1)
        return [b.hash for b in self.blocks[-count:]]

    def _rpc_generateblock(self, address: str, txids: list[str]) -> dict[str, str]:
        chosen = [t for t in self.mempool if t.txid in set(txids)]
        rest = [t for t in self.mempool if t.txid not in set(txids)]
        self.mempool = [self._coinbase(address), *chosen]
        self.mine(1)
        self.mempool = rest
        return {"hash": self.blocks[-1].hash}

    def _rpc_invalidateblock(self, block_hash: str) -> None:
        self.invalidate(self._block_by_hash(block_hash).height)

    def _rpc_sendtoaddress(self, address: str, amount: Decimal) -> str:
        return self.pay(address, int(Decimal(amount) * SATS))

    def _rpc_sendrawtransaction(self, raw_hex: str) -> str:
        return self._send(raw_hex)

    def _send(self, raw_hex: str) -> str:
        try:
            raw = bytes.fromhex(raw_hex)
            parsed = Transaction.parse(raw)
        except Exception:
            raise RpcFailureError(-22, "TX decode failed") from None
        txid = parsed.txid().hex()
        found = self._find(txid)
        if found is not None:
            if found[1] is not None:
                raise RpcFailureError(-27, "Transaction already in block chain")
            return txid
        unspent = self._unspent()
        inputs = [(vin.txid.hex(), vin.vout) for vin in parsed.vin]
        for outpoint in inputs:
            if outpoint not in unspent:
                raise RpcFailureError(-25, "bad-txns-inputs-missingorspent")
        paid_in = sum(unspent[o][1] for o in inputs)
        paid_out = sum(out.value for out in parsed.vout)
        if paid_out > paid_in:
            raise RpcFailureError(-26, "bad-txns-in-belowout")
        fee = paid_in - paid_out
        conflicts = [t for t in self.mempool if set(t.inputs) & set(inputs)]
        if conflicts:
            if not all(t.replaceable for t in conflicts):
                raise RpcFailureError(-26, "txn-mempool-conflict")
            replaced_fees = sum(t.fee for t in conflicts)
            if fee < replaced_fees + INCREMENTAL_RELAY_FEE * _vsize(parsed):
                raise RpcFailureError(-26, "insufficient fee")
            self.mempool = [t for t in self.mempool if t not in conflicts]
        outputs = [(bytes(out.script_pubkey.data), out.value) for out in parsed.vout]
        replaceable = any(vin.sequence < 0xFFFFFFFE for vin in parsed.vin)
        self.mempool.append(_Tx(txid, outputs, inputs, raw, fee, replaceable))
        return txid

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != basic_auth(self.user, self.password):
            return web.Response(status=401)
        body = json.loads(await request.text(), parse_float=Decimal)
        self.calls.append(body["method"])
        try:
            reply = {
                "result": self._rpc(body["method"], body.get("params", [])),
                "error": None,
                "id": body["id"],
            }
            status = 200
        except RpcFailureError as exc:
            reply = {"result": None, "error": {"code": exc.code, "message": exc.message}, "id": body["id"]}
            status = 500  # bitcoind answers errors with HTTP 500 (404 for unknown methods)
        text = _DECIMAL.sub(r"\1", json.dumps(reply, default=lambda d: f"__decimal__{d}"))
        return web.Response(status=status, text=text, content_type="application/json")
