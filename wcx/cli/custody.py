"""`wcx custody …`: the cold-storage ceremony (keygen, deploy-share, export-share, recover) and hot keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from wcx.custody.ceremony import RECORD_NAME, ColdWalletRecord, keygen, recover, write_new_file
from wcx.custody.cold_transfer import load_transaction, sign_cold_psbt, sign_cold_transfer
from wcx.custody.errors import CustodyError
from wcx.custody.hsm_shares import deploy_share, export_share
from wcx.custody.keys import Network, derive_keys
from wcx.custody.shares import SHARE_SUFFIX, check_location, new_master_secret
from wcx.custody.sweep_signing import sign_sweeps as sweep_signatures
from wcx.wallet.signers import SignerError, SignerSettings, ethereum_address, generate_hot_key
from wcx.wallet.sweeps.seed import seal_seed

app = typer.Typer(help="Cold-storage key ceremony and HSM key management.", no_args_is_help=True)

PinFile = Annotated[
    Path | None,
    typer.Option("--pin-file", help="File holding the token user PIN (else HSM_PIN / HSM_PIN_FILE)."),
]
Module = Annotated[
    str | None, typer.Option("--module", help="PKCS#11 library (else PKCS11_MODULE, else SoftHSM2).")
]


@app.callback()
def _group() -> None:
    """Cold-storage key ceremony and HSM key management."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _passphrase(path: Path | None) -> bytes:
    """The passphrase file's content without its trailing newline; empty when no file is given."""
    if path is None:
        return b""
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        _fail(f"cannot read the passphrase file {path}: {exc}")


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the {what} {path}: {exc}")


def _token_access(module: str | None, pin_file: Path | None) -> tuple[str, str]:
    settings = SignerSettings()
    if pin_file is not None:
        try:
            pin = pin_file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            _fail(f"cannot read the PIN file {pin_file}: {exc}")
    else:
        pin = settings.pin()
    return module or settings.pkcs11_module, pin


@app.command("keygen")
def keygen_command(
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where the share files and record go.")],
    threshold: Annotated[int, typer.Option("--threshold", min=2, max=16)] = 3,
    total_shares: Annotated[int, typer.Option("--total-shares", min=2, max=16)] = 5,
    passphrase_file: Annotated[Path | None, typer.Option("--passphrase-file")] = None,
    network: Annotated[Network, typer.Option("--network")] = Network.MAINNET,
    location: Annotated[
        list[str] | None, typer.Option("--location", help="Name of each share's location (repeat per share).")
    ] = None,
) -> None:
    """Generate a cold wallet: SLIP-39 share files (0600) and a public record; the secret stays in memory."""
    try:
        result = keygen(
            threshold=threshold,
            total_shares=total_shares,
            output_dir=output_dir,
            passphrase=_passphrase(passphrase_file),
            network=network,
            now=datetime.now(UTC),
            locations=location or None,
        )
    except CustodyError as exc:
        _fail(str(exc))
    keys = result.record.keys
    for path in result.share_files:
        typer.echo(f"share file: {path}")
    typer.echo(f"public record: {result.record_path}")
    typer.echo("# server configuration (watch-only, safe to publish):")
    typer.echo(f"COLD_WALLET_FINGERPRINT={keys.fingerprint}")
    typer.echo(f"COLD_BTC_XPUB={keys.btc_xpub}  # BIP84 {keys.btc_path}")
    typer.echo(f"COLD_BTC_ADDRESS={keys.btc_address}")
    typer.echo(f"COLD_ETH_XPUB={keys.eth_xpub}  # BIP44 {keys.eth_path}")
    typer.echo(f"COLD_ETH_ADDRESS={keys.eth_address}")


@app.command("deploy-share")
def deploy_share_command(
    location: Annotated[str, typer.Option("--location")],
    share_file: Annotated[Path, typer.Option("--share-file")],
    hsm_id: Annotated[str, typer.Option("--hsm-id", help="Label of the location's HSM token.")],
    pin_file: PinFile = None,
    module: Module = None,
) -> None:
    """Store a share in the location's HSM as a sensitive object, verify it, then shred the plaintext file."""
    try:
        lib, pin = _token_access(module, pin_file)
        deployed = deploy_share(
            module=lib, token_label=hsm_id, pin=pin, location=location, share_file=share_file
        )
    except (CustodyError, SignerError) as exc:
        _fail(str(exc))
    typer.echo(
        f"share {deployed.member_index} of set {deployed.share_set} stored on token {deployed.token_label!r} "
        f"as {deployed.object_label!r}; verified; {share_file} shredded"
    )


@app.command("export-share")
def export_share_command(
    location: Annotated[str, typer.Option("--location")],
    hsm_id: Annotated[str, typer.Option("--hsm-id")],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="The recovery ceremony's shares directory.")
    ],
    pin_file: PinFile = None,
    module: Module = None,
) -> None:
    """Bring a location's share out of its HSM into the recovery directory (0600) for `recover`."""
    try:
        lib, pin = _token_access(module, pin_file)
        mnemonic = export_share(module=lib, token_label=hsm_id, pin=pin, location=location)
        output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = output_dir / f"share-{check_location(location)}{SHARE_SUFFIX}"
        write_new_file(path, f"# location: {location}\n{mnemonic}\n")
    except (CustodyError, SignerError, FileExistsError) as exc:
        _fail(str(exc))
    typer.echo(f"share of {location!r} exported to {path}")


@app.command("recover")
def recover_command(
    shares_location: Annotated[
        Path, typer.Option("--shares-location", help="Directory with the share files.")
    ],
    threshold: Annotated[int, typer.Option("--threshold", min=2, max=16)] = 3,
    passphrase_file: Annotated[Path | None, typer.Option("--passphrase-file")] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", help=f"Public record (default: <shares-location>/{RECORD_NAME})."),
    ] = None,
    fingerprint: Annotated[
        str | None, typer.Option("--fingerprint", help="Recorded wallet fingerprint.")
    ] = None,
    network: Annotated[Network | None, typer.Option("--network")] = None,
    sign_transaction: Annotated[
        Path | None,
        typer.Option("--sign-transaction", help="Prepared cold-to-hot Ethereum transaction JSON."),
    ] = None,
    sign_psbt: Annotated[
        Path | None, typer.Option("--sign-psbt", help="Prepared cold-to-hot Bitcoin PSBT (base64).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Where the signed transaction goes.")
    ] = None,
    hot_address: Annotated[
        str | None, typer.Option("--hot-address", help="Refuse any other recipient.")
    ] = None,
    key_index: Annotated[int, typer.Option("--key-index", min=0)] = 0,
    sign_sweeps: Annotated[
        Path | None,
        typer.Option("--sign-sweeps", help="Sweep plan from `wcx wallet sweep plan`: deposit keys sign it."),
    ] = None,
) -> None:
    """Recombine shares, check the fingerprint, optionally sign a transfer or a sweep plan in memory."""
    try:
        record_path = record or shares_location / RECORD_NAME
        recorded = ColdWalletRecord.load(record_path) if record_path.exists() else None
        expected = fingerprint or (recorded.keys.fingerprint if recorded else None)
        if expected is None:
            _fail(f"no recorded fingerprint: give --fingerprint or --record (no {record_path})")
        result = recover(
            shares_dir=shares_location,
            threshold=threshold,
            passphrase=_passphrase(passphrase_file),
            expected_fingerprint=expected,
            network=network or (recorded.keys.network if recorded else Network.MAINNET),
            expected_keys=recorded.keys if recorded else None,
        )
        for reason in result.rejected:
            typer.echo(f"warning: share rejected: {reason}", err=True)
        typer.echo(
            f"recovered cold wallet {result.keys.fingerprint} from "
            f"{', '.join(s.location for s in result.used)}; fingerprint matches the record"
        )
        if sum(option is not None for option in (sign_transaction, sign_psbt, sign_sweeps)) > 1:
            _fail("sign one thing at a time: --sign-transaction, --sign-psbt or --sign-sweeps")
        document: dict[str, object]
        if sign_sweeps is not None:
            hot = [hot_address] if hot_address else []
            document = sweep_signatures(result, _json_file(sign_sweeps, "sweep plan"), hot_addresses=hot)
        elif sign_transaction is not None:
            signed = sign_cold_transfer(
                result, load_transaction(sign_transaction), index=key_index, hot_address=hot_address
            )
            document = {
                "from": signed.sender,
                "hash": "0x" + signed.tx_hash.hex(),
                "raw": "0x" + signed.raw.hex(),
            }
        elif sign_psbt is not None:
            try:
                psbt_text = sign_psbt.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                _fail(f"cannot read the PSBT {sign_psbt}: {exc}")
            btc = sign_cold_psbt(result, psbt_text, index=key_index, hot_address=hot_address)
            document = {"txid": btc.txid, "raw": btc.raw.hex(), "signed_inputs": btc.signed_inputs}
        else:
            return
        text = json.dumps(document, indent=2)
        if output is None:
            typer.echo(text)
        else:
            write_new_file(output, text + "\n", mode=0o644)
            typer.echo(f"signed transaction written to {output}")
    except (CustodyError, SignerError, FileExistsError) as exc:
        _fail(str(exc))


@app.command("deposit-seed")
def deposit_seed_command(
    hsm_id: Annotated[str, typer.Option("--hsm-id", help="Label of the wallet's HSM token (the hot key's).")],
    output: Annotated[Path, typer.Option("--output", help="The sealed seed file (never overwritten).")],
    key_label: Annotated[str, typer.Option("--key-label", help="Label of the sealing key.")] = "deposit-seed",
    network: Annotated[Network, typer.Option("--network", help="Bitcoin key encoding.")] = Network.MAINNET,
    pin_file: PinFile = None,
    module: Module = None,
) -> None:
    """Create the automatic sweeper's deposit seed, sealed by a non-extractable key inside the HSM."""
    if output.exists():
        _fail(f"{output} exists; a deposit seed is never overwritten")
    try:
        lib, pin = _token_access(module, pin_file)
        seed = new_master_secret()
        keys = derive_keys(seed, network)
        sealed = seal_seed(
            seed,
            module=lib,
            token_label=hsm_id,
            pin=pin,
            key_label=key_label,
            eth_xpub=keys.eth_xpub,
            btc_xpub=keys.btc_xpub,
        )
        del seed  # only the ciphertext leaves this function
        write_new_file(output, json.dumps(sealed.to_json(), indent=2) + "\n")
    except (CustodyError, SignerError, FileExistsError) as exc:
        _fail(str(exc))
    typer.echo(f"deposit seed sealed by {hsm_id}/{key_label} in {output}")
    typer.echo(
        "# wallet configuration (deposit addresses derive from these; the seed never leaves the HSM's seal):"
    )
    typer.echo(f"DEPOSIT_SEED_FILE={output}")
    typer.echo(f"ETH_XPUB={keys.eth_xpub}")
    typer.echo(f"BTC_XPUB={keys.btc_xpub}")


@app.command("hot-key")
def hot_key_command(
    hsm_id: Annotated[str, typer.Option("--hsm-id", help="Label of the hot-wallet HSM token.")],
    key_label: Annotated[str, typer.Option("--key-label")] = "hot-wallet",
    pin_file: PinFile = None,
    module: Module = None,
) -> None:
    """Generate the hot-wallet secp256k1 key inside the HSM (non-extractable); print its public key."""
    try:
        lib, pin = _token_access(module, pin_file)
        public = generate_hot_key(module=lib, token_label=hsm_id, pin=pin, key_label=key_label)
    except SignerError as exc:
        _fail(str(exc))
    typer.echo(f"HSM_TOKEN_LABEL={hsm_id}")
    typer.echo(f"HSM_KEY_LABEL={key_label}")
    typer.echo(f"public key: {public.hex()}")
    typer.echo(f"ethereum address: {ethereum_address(public)}")
