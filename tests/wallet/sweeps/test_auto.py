"""The automatic sweeper: a deposit seed created by `wcx custody deposit-seed` and sealed in SoftHSM2 signs
the planned sweeps in the wallet process; the same checks and processor take them to confirmation."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wcx.cli import app
from wcx.runtime import Runtime
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.config import ChainsConfig
from wcx.wallet.sweeps import SweepKind, SweepState, awaiting_signature
from wcx.wallet.sweeps.auto import AutoSweeper
from wcx.wallet.sweeps.seed import DepositKeys, DepositSeedError, SealedSeed, unseal_seed
from wcx.wallet.sweeps.wiring import build_auto_sweeper

from ..deposits.conftest import ETH_XPUB
from .conftest import ETH, USDT, Chain, Sweeping, make_sweeping

pytestmark = pytest.mark.anyio


def create_deposit_seed(softhsm: SoftHsm, token: str, tmp_path: Path) -> tuple[Path, str]:
    """`wcx custody deposit-seed` into the hot key's token; the seed file and the printed ETH_XPUB."""
    pin = tmp_path / "pin"
    pin.write_text(USER_PIN + "\n", encoding="utf-8")
    path = tmp_path / "deposit-seed.json"
    args = ["custody", "deposit-seed", "--hsm-id", token, "--output", str(path), "--network", "testnet"]
    result = CliRunner().invoke(app, [*args, "--module", softhsm.module, "--pin-file", str(pin)])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, [*args, "--module", softhsm.module, "--pin-file", str(pin)])
    assert again.exit_code == 2 and "never overwritten" in again.output
    [xpub] = [line.split("=", 1)[1] for line in result.output.splitlines() if line.startswith("ETH_XPUB=")]
    return path, xpub


async def test_deposits_are_swept_with_the_sealed_deposit_seed(
    runtime: Runtime, chain: Chain, softhsm: SoftHsm, token: str, tmp_path: Path
) -> None:
    path, xpub = create_deposit_seed(softhsm, token, tmp_path)
    s: Sweeping = make_sweeping(runtime, chain, xpub, int(await chain.evm.height()) + 1)
    sealed = SealedSeed.load(path)
    keys = DepositKeys(
        unseal_seed(sealed, module=softhsm.module, token_label=token, pin=USER_PIN), sealed.key_label
    )
    auto = AutoSweeper(runtime.db, [s.target], keys)
    node, hot = chain.node, chain.wallet.address
    _, alice_address = await s.depositor("alice@example.com")
    _, bob_address = await s.depositor("bob@example.com")
    await chain.evm.send_eth(alice_address, 3 * ETH)
    await chain.evm.send_token(bob_address, 250 * USDT)
    await s.credit()
    hot_usdt = await node.balance(hot, "USDT")

    signed = await auto.run_once()  # planned and signed in one round: no ceremony
    assert {(sweep.kind, sweep.state) for sweep in signed} == {
        (SweepKind.NATIVE, SweepState.SIGNED),
        (SweepKind.TOKEN, SweepState.SIGNED),
    }
    await s.settle()
    assert await node.balance(alice_address, "ETH") == 0
    assert await node.balance(bob_address, "USDT") == 0
    assert await node.balance(hot, "USDT") == hot_usdt + 250 * USDT
    assert await auto.run_once() == []  # nothing left above the minimums

    # Keys of another seed own none of these addresses: the sweep is left planned for the ceremony.
    stranger = AutoSweeper(runtime.db, [s.target], DepositKeys(secrets.token_bytes(32), "other"))
    _, carol_address = await s.depositor("carol@example.com")
    await chain.evm.send_eth(carol_address, ETH)
    await s.credit()
    assert await stranger.run_once() == []
    [waiting] = await awaiting_signature(runtime.db)
    assert (waiting.from_address, waiting.state) == (carol_address, SweepState.PLANNED)


async def test_the_wallet_role_opens_the_configured_deposit_seed(
    runtime: Runtime,
    chain: Chain,
    softhsm: SoftHsm,
    token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = ChainsConfig((make_sweeping(runtime, chain, ETH_XPUB, 0).spec,))
    wallets = {"ethereum": chain.wallet}
    assert await build_auto_sweeper(runtime.db, config, wallets) is None  # no DEPOSIT_SEED_FILE: none
    path, _ = create_deposit_seed(softhsm, token, tmp_path)
    for name, value in {
        "DEPOSIT_SEED_FILE": str(path),
        "PKCS11_MODULE": softhsm.module,
        "HSM_TOKEN_LABEL": token,
        "HSM_PIN": USER_PIN,
    }.items():
        monkeypatch.setenv(name, value)
    auto = await build_auto_sweeper(runtime.db, config, wallets)
    assert auto is not None and set(auto.targets) == {"ethereum"}
    monkeypatch.setenv("HSM_TOKEN_LABEL", softhsm.init_token())  # a token without the sealing key
    with pytest.raises(DepositSeedError, match="no key labelled"):
        await build_auto_sweeper(runtime.db, config, wallets)
