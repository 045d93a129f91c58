"""`wcx wallet sweep …` and `wcx custody recover --sign-sweeps` through the real CLI app: a py-evm chain
over HTTP, the hot key in SoftHSM2, deposit addresses under a 3-of-5 ceremony's xpub."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from custody.conftest import PASSPHRASE, Ceremony, ceremony_run
from sqlalchemy import insert
from typer.testing import CliRunner
from wallet.withdrawals.evm_http import EvmHttpNode

from wcx.cli import app
from wcx.store.db import create_engine
from wcx.store.schema import users
from wcx.testing.evm import LocalEvm
from wcx.testing.softhsm import USER_PIN, SoftHsm, softhsm
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.chains.ethereum.rpc import EthereumRpc
from wcx.wallet.config import load_chains
from wcx.wallet.deposits import deposit_address
from wcx.wallet.signers import ethereum_address, generate_hot_key

__all__ = ["ceremony_run", "softhsm"]
ETH, USDT = 10**18, 10**6


def wcx(*args: str | Path) -> Result:
    """The CLI in-process."""
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def evm_node() -> Iterator[EvmHttpNode]:
    """A py-evm chain served over HTTP from this process."""
    node = EvmHttpNode().start()
    yield node
    node.stop()


async def _evm(url: str) -> LocalEvm:
    return await LocalEvm(EthereumRpc.http(url)).start()


async def _depositors(url: str, count: int) -> list[str]:
    db = create_engine(url)
    try:
        addresses = []
        for n in range(count):
            async with db.begin() as conn:
                result = await conn.execute(
                    insert(users).values(email=f"user{n}@example.com", created_at=datetime.now(UTC))
                )
            user = int(result.inserted_primary_key[0])
            addresses.append(await deposit_address(db, load_chains().chain("ethereum"), user))
        return addresses
    finally:
        await db.dispose()


def test_plan_sign_in_the_ceremony_submit_and_follow(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    softhsm: SoftHsm,
    evm_node: EvmHttpNode,
    ceremony_run: Ceremony,
) -> None:
    token = softhsm.init_token()
    hot = ethereum_address(
        generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    )
    evm = asyncio.run(_evm(evm_node.url))
    data = tmp_path / "data"
    chains = tmp_path / "chains.toml"  # the hot wallet's gas top-ups are not deposits
    shipped = (Path(__file__).resolve().parents[2] / "config" / "chains.toml").read_text(encoding="utf-8")
    chains.write_text(shipped.replace("internal_addresses = []", f'internal_addresses = ["{hot}"]', 1))
    settings = {
        "CHAINS_FILE": str(chains),
        "DATA_DIR": str(data),
        "WCX_ENV": "development",
        "ETH_RPC_URL": evm_node.url,
        "ETH_XPUB": ceremony_run.result.record.keys.eth_xpub,
        "USDT_CONTRACT": evm.token,
        "WALLET_SIGNER": "pkcs11",
        "PKCS11_MODULE": softhsm.module,
        "HSM_TOKEN_LABEL": token,
        "HSM_KEY_LABEL": "hot",
        "HSM_PIN": USER_PIN,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    data.mkdir()
    wcx("migrate")
    eth_user, token_user = asyncio.run(_depositors(f"sqlite+aiosqlite:///{data / 'wcx.sqlite3'}", 2))

    async def fund() -> None:
        await evm.send_eth(hot, 5 * ETH)  # gas for the top-up
        await evm.send_eth(eth_user, 2 * ETH)
        await evm.send_token(token_user, 900 * USDT)

    asyncio.run(fund())
    plan = tmp_path / "plan.json"
    planned = wcx("wallet", "sweep", "plan", "--output", plan).output
    assert planned.count("planned sw_") == 3 and "2 sweep(s) to sign" in planned
    assert {item["kind"] for item in json.loads(plan.read_text())["sweeps"]} == {"native", "token"}

    shares = tmp_path / "recovery"
    shares.mkdir()
    for location in ("zurich", "singapore", "newyork"):
        shutil.copy(ceremony_run.output_dir / f"share-{location}.slip39", shares)
    passphrase = tmp_path / "passphrase"
    passphrase.write_bytes(PASSPHRASE)
    signed = tmp_path / "signed.json"
    record = ceremony_run.result.record_path
    wcx(
        *(
            "custody",
            "recover",
            "--shares-location",
            shares,
            "--record",
            record,
            "--passphrase-file",
            passphrase,
        ),
        *("--sign-sweeps", plan, "--hot-address", hot, "--output", signed),
    )
    assert "seed" not in signed.read_text() and len(json.loads(signed.read_text())["sweeps"]) == 2
    wcx("wallet", "sweep", "submit", signed)
    for _ in range(
        3
    ):  # top-up sent, confirmed (12 blocks, config/chains.toml), the sweeps sent and confirmed
        wcx("wallet", "sweep", "run", "--once")
        asyncio.run(evm.mine(12))
    listing = wcx("wallet", "sweep", "list", "--all").output
    assert listing.count(" confirmed ") == 3, listing

    async def balances() -> tuple[int, int, int]:
        node = EthereumNode(evm.rpc, tokens={evm.token: "USDT"})
        return (
            await node.balance(eth_user, "ETH"),
            await node.balance(token_user, "USDT"),
            await node.balance(hot, "USDT"),
        )

    assert asyncio.run(balances()) == (0, 0, 900 * USDT)
