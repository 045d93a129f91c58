"""The ceremony end to end through the wrapper scripts and the real `wcx` CLI, with SoftHSM2 tokens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import Result
from eth_account import Account
from typer.testing import CliRunner

from wcx.cli import app
from wcx.custody.shares import read_share_file
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.signers import Pkcs11Signer, ethereum_address

ROOT = Path(__file__).resolve().parents[2]
HOT = "0x000000000000000000000000000000000000dEaD"


def _run(script: str, *args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(ROOT / "scripts" / script), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def _wcx(*args: str | Path) -> Result:
    """The same CLI in-process (a `wcx` process start costs seconds on a loaded machine)."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_key_generation_deployment_and_recovery_through_the_scripts(softhsm: SoftHsm, tmp_path: Path) -> None:
    env = {**softhsm.env(), "WCX_BIN": str(Path(sys.executable).parent / "wcx")}
    env.pop("HSM_PIN", None)
    passphrase, pin = tmp_path / "passphrase", tmp_path / "pin"
    passphrase.write_text("ceremony passphrase\n", encoding="utf-8")
    pin.write_text(USER_PIN + "\n", encoding="utf-8")
    out = tmp_path / "ceremony"

    usage = _run("cold_storage_key_generation.sh", env=env)
    assert usage.returncode == 64 and "--threshold 3 --total-shares 5" in usage.stderr

    keygen = _run(
        "cold_storage_key_generation.sh",
        *("--threshold", "3", "--total-shares", "5", "--output-dir", out),
        *("--passphrase-file", passphrase, "--network", "regtest"),
        env=env,
    )
    assert keygen.returncode == 0, keygen.stderr
    record = json.loads((out / "cold-wallet.json").read_text(encoding="utf-8"))
    assert f"COLD_WALLET_FINGERPRINT={record['fingerprint']}" in keygen.stdout
    assert f"COLD_ETH_ADDRESS={record['ethereum']['address']}" in keygen.stdout
    assert record["bitcoin"]["address"].startswith("bcrt1")
    shares = sorted(out.glob("share-*.slip39"))
    assert len(shares) == 5
    for share in shares:  # no share's words reach the terminal
        assert read_share_file(share).mnemonic.split()[4] not in keygen.stdout.split()

    recovery_dir = tmp_path / "recovery"
    for number, share in enumerate(shares[1:4]):
        location = read_share_file(share).location
        token = softhsm.init_token()
        deploy = ("--location", location, "--share-file", share, "--hsm-id", token, "--pin-file", pin)
        if number == 0:
            deployed = _run("deploy_key_share.sh", *deploy, env=env)
            assert deployed.returncode == 0, deployed.stderr
        else:
            assert _wcx("custody", "deploy-share", *deploy).exit_code == 0
        assert not share.exists()
        exported = _wcx(
            *("custody", "export-share", "--location", location, "--hsm-id", token),
            *("--output-dir", recovery_dir, "--pin-file", pin),
        )
        assert exported.exit_code == 0, exported.output

    tx = tmp_path / "cold-to-hot.json"
    tx.write_text(
        json.dumps(
            {
                "chainId": 1337,
                "nonce": 0,
                "to": HOT,
                "value": "1000000000000000000",
                "gas": 21000,
                "gasPrice": "1000000000",
            }
        ),
        encoding="utf-8",
    )
    signed_path = tmp_path / "signed.json"
    recovered = _run(
        "cold_storage_recovery.sh",
        *("--threshold", "3", "--shares-location", recovery_dir, "--passphrase-file", passphrase),
        *("--record", out / "cold-wallet.json", "--sign-transaction", tx, "--output", signed_path),
        *("--hot-address", HOT),
        env=env,
    )
    assert recovered.returncode == 0, recovered.stderr
    assert "fingerprint matches the record" in recovered.stdout
    signed = json.loads(signed_path.read_text(encoding="utf-8"))
    assert signed["from"] == record["ethereum"]["address"]
    assert Account.recover_transaction(signed["raw"]) == record["ethereum"]["address"]

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n", encoding="utf-8")
    refused = _wcx(
        *("custody", "recover", "--threshold", "3", "--shares-location", recovery_dir),
        *("--passphrase-file", wrong, "--record", out / "cold-wallet.json"),
    )
    assert refused.exit_code == 2
    assert "is not the recorded" in refused.stderr

    (recovery_dir / sorted(p.name for p in recovery_dir.iterdir())[0]).unlink()
    too_few = _wcx(
        *("custody", "recover", "--threshold", "3", "--shares-location", recovery_dir),
        *("--passphrase-file", passphrase, "--fingerprint", record["fingerprint"]),
    )
    assert too_few.exit_code == 2
    assert "2 valid distinct share(s)" in too_few.stderr


def test_hot_key_is_generated_inside_the_token(softhsm: SoftHsm, tmp_path: Path) -> None:
    token = softhsm.init_token()
    pin = tmp_path / "pin"
    pin.write_text(USER_PIN, encoding="utf-8")
    created = _wcx("custody", "hot-key", "--hsm-id", token, "--pin-file", pin, "--key-label", "hot")
    assert created.exit_code == 0, created.output
    signer = Pkcs11Signer(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    try:
        assert f"public key: {signer.public_key().hex()}" in created.stdout
        assert f"ethereum address: {ethereum_address(signer.public_key())}" in created.stdout
    finally:
        signer.close()
    again = _wcx("custody", "hot-key", "--hsm-id", token, "--pin-file", pin, "--key-label", "hot")
    assert again.exit_code == 2 and "already holds a key" in again.stderr
