"""Withdrawal pipeline fixtures: a started runtime, a funded user, a local EVM with the test ERC-20,
and a hot wallet whose key lives in SoftHSM2."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from embit import ec
from embit.script import p2pkh
from embit.transaction import SIGHASH, Transaction
from sqlalchemy import insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from wcx.config.settings import load_settings
from wcx.engine import CreditDeposit
from wcx.runtime import Runtime
from wcx.store.db import create_engine
from wcx.store.schema import users
from wcx.testing.bitcoind import FakeBitcoind
from wcx.testing.evm import LocalEvm, in_process_rpc
from wcx.testing.services import missing_service
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.chains.ethereum.rpc import EthereumRpc
from wcx.wallet.config import load_chains
from wcx.wallet.signers import Pkcs11Signer, ethereum_address
from wcx.wallet.withdrawals import WithdrawalPolicy, load_policy
from wcx.wallet.withdrawals.config import DEFAULT_WITHDRAWALS_FILE
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute

from ..signers.conftest import hsm_signer, softhsm, token
from .evm_http import EvmHttpNode

__all__ = ["hsm_signer", "softhsm", "token"]

CONFIRMATIONS = 3
ETH = 10**18
USDT = 10**6


@pytest.fixture
def anyio_backend() -> str:
    """The pipeline runs on asyncio."""
    return "asyncio"


DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


async def server_sql(server: URL, sql: str) -> None:
    """One statement on the PostgreSQL server's maintenance database, outside a transaction."""
    engine = create_engine(server.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


BOTH_DATABASES = pytest.mark.parametrize("runtime", ["sqlite", "postgresql"], indirect=True)
"""Run a test on SQLite and on a fresh PostgreSQL database (the others run on SQLite)."""


@pytest.fixture
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    """A started runtime over a fresh data directory: journal + SQLite, or a fresh PostgreSQL database."""
    database_url = ""
    if getattr(request, "param", "sqlite") == "postgresql":
        server = make_url(os.environ.get("WCX_TEST_DATABASE_URL", DEFAULT_SERVER))
        name = f"wcx_test_{secrets.token_hex(6)}"
        try:
            await server_sql(server, f'CREATE DATABASE "{name}"')
        except (OSError, SQLAlchemyError, TimeoutError) as exc:
            missing_service(f"PostgreSQL unreachable for the withdrawal tests: {exc!r}")
        database_url = server.set(drivername="postgresql", database=name).render_as_string(
            hide_password=False
        )
    settings = load_settings(
        projector="inline",  # the in-process tests need no second process; black-box tests run it
        data_dir=tmp_path / "data",
        wcx_env="development",
        redis_url="",
        database_url=database_url,
    )
    started = Runtime(settings)
    await started.start()
    yield started
    await started.stop()
    if database_url:
        await server_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def policy(runtime: Runtime) -> WithdrawalPolicy:
    """The shipped withdrawal policy (ETH auto-approved below 5, USDT below 10 000)."""
    return load_policy(DEFAULT_WITHDRAWALS_FILE, runtime.engine.state.assets, load_chains(development=True))


async def add_user(runtime: Runtime, email: str, funds: dict[str, int]) -> int:
    """A user row and engine deposits of `funds` (minor units); the user id."""
    async with runtime.db.begin() as conn:
        result = await conn.execute(
            insert(users).values(email=email, frozen=False, created_at=datetime.now(UTC))
        )
        user_id = int(result.inserted_primary_key[0])
    for asset, amount in funds.items():
        await runtime.submit(CreditDeposit(user_id, asset, amount, f"fund:{email}:{asset}"))
    return user_id


@pytest.fixture
async def alice(runtime: Runtime) -> int:
    """A user holding 20 ETH and 50 000 USDT on the exchange."""
    return await add_user(runtime, "alice@example.com", {"ETH": 20 * ETH, "USDT": 50_000 * USDT})


@dataclass
class Chain:
    """The local EVM, its node adapter and the hot wallet on it."""

    evm: LocalEvm
    node: EthereumNode
    wallet: HotWallet


@pytest.fixture
async def chain(hsm_signer: Pkcs11Signer) -> AsyncIterator[Chain]:
    """An in-process EVM with the test USDT; a SoftHSM hot wallet funded with 50 ETH and 100 000 USDT."""
    evm = await LocalEvm(in_process_rpc()).start()
    node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
    address = ethereum_address(hsm_signer.public_key())
    routes = {"ETH": TokenRoute("", CONFIRMATIONS), "USDT": TokenRoute(evm.token, CONFIRMATIONS)}
    wallet = HotWallet("ethereum", node, hsm_signer, address, await node.chain_id(), "ETH", routes)
    await evm.send_eth(address, 50 * ETH)
    await evm.send_token(address, 100_000 * USDT)
    yield Chain(evm, node, wallet)
    await node.close()


@pytest.fixture
def evm_node() -> Iterator[EvmHttpNode]:
    """The chain, served over HTTP from this process: it survives every server kill."""
    node = EvmHttpNode().start()
    yield node
    node.stop()


@pytest.fixture
async def evm(evm_node: EvmHttpNode) -> AsyncIterator[LocalEvm]:
    """Test helpers over the HTTP chain, with the test USDT deployed."""
    local = await LocalEvm(EthereumRpc.http(evm_node.url)).start()
    yield local
    await local.rpc.close()


@pytest.fixture
async def bitcoind() -> AsyncIterator[FakeBitcoind]:
    """bitcoind's RPC over HTTP with an in-memory regtest chain."""
    fake = await FakeBitcoind().start()
    fake.fee_rate = None  # no estimate yet: the relay minimum, 1 sat/vB
    yield fake
    await fake.stop()


def verify_signed_by(raw: bytes, signer: Pkcs11Signer, amounts: list[int]) -> None:
    """Every input carries a valid SIGHASH_ALL signature of the signer's key over its BIP143 digest."""
    tx = Transaction.parse(raw)
    public = ec.PublicKey.parse(signer.public_key())
    for index, (vin, amount) in enumerate(zip(tx.vin, amounts, strict=True)):
        signature, key = vin.witness.items
        assert key == public.sec() and signature[-1] == SIGHASH.ALL
        digest = tx.sighash_segwit(index, p2pkh(public), amount)
        assert public.verify(ec.Signature.parse(signature[:-1]), digest)
