"""`wcx por …`: verify an inclusion proof offline, publish a round, check on-chain reserves."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from wcx.config.settings import SettingsError, load_settings
from wcx.custody.por import ProofError, verify_proof
from wcx.custody.por_rounds import latest_round, record_reserves
from wcx.custody.publisher import (
    PorPublisher,
    PorSettings,
    ReservesConfigError,
    deposit_reserve_wallets,
    load_wallets,
)
from wcx.custody.reserves import ReservesReport, ReserveWallet, check_reserves
from wcx.primitives import format_amount
from wcx.runtime import Runtime, lock_is_held
from wcx.store.db import create_engine
from wcx.wallet.chains.connect import connect
from wcx.wallet.chains.port import ChainError, ChainNode
from wcx.wallet.config import ChainConfigError, WalletSettings, load_chains

app = typer.Typer(
    help="Proof of reserves: verify proofs, publish rounds, check reserves.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Proof of reserves: verify proofs, publish rounds, check reserves."""


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("verify")
def verify(
    proof_file: Annotated[Path, typer.Argument(help="A proof, or the whole /proof-of-reserves/me answer.")],
    user_id: Annotated[
        int | None, typer.Option("--user-id", help="Check the leaf is keyed by this id.")
    ] = None,
    root: Annotated[str | None, typer.Option("--root", help="The published root hash to match.")] = None,
) -> None:
    """Check inclusion proofs offline: leaf, every sum non-negative, path to the root; exit 1 if any fails."""
    try:
        document = json.loads(proof_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {proof_file}: {exc}")
    proofs = document.get("proofs", [document]) if isinstance(document, dict) else None
    if not isinstance(proofs, list) or not proofs:
        _fail(f"{proof_file} holds no proof")
    if user_id is None and isinstance(document, dict) and isinstance(document.get("user_id"), int):
        user_id = document["user_id"]
    failed = 0
    for proof in proofs:
        asset = proof.get("asset", "?") if isinstance(proof, dict) else "?"
        try:
            checked = verify_proof(proof, user_id=user_id, published_root=root)
        except ProofError as exc:
            failed += 1
            typer.echo(f"FAIL {asset}: {exc}")
            continue
        scale = proof["scale"] if isinstance(proof.get("scale"), int) else 0
        typer.echo(
            f"OK   {checked.asset} round {checked.round}: balance {format_amount(checked.balance, scale)} "
            f"included in total {format_amount(checked.total, scale)} (root {checked.root_hash})"
        )
    if failed:
        raise typer.Exit(1)


def _nodes(development: bool) -> dict[str, ChainNode]:
    config = load_chains(WalletSettings(), development=development)
    return {spec.name: connect(spec) for spec in config.chains if spec.rpc_url}


def _wallets(development: bool) -> list[ReserveWallet]:
    config = load_chains(WalletSettings(), development=development)
    return load_wallets(PorSettings().por_wallets_file, lambda asset: config.locate(asset)[0].name)


def _deposit_assets(development: bool) -> dict[str, list[str]]:
    """chain -> its assets, for every chain with a node: the deposit addresses' balances are reserves too."""
    config = load_chains(WalletSettings(), development=development)
    return {spec.name: [a.code for a in spec.assets if a.available] for spec in config.chains if spec.rpc_url}


def server_publisher(runtime: Runtime) -> PorPublisher:
    """The periodic publisher `wcx serve` runs (every POR_INTERVAL_S; 0 disables it)."""
    development = runtime.settings.development
    settings = PorSettings()
    nodes = _nodes(development)

    async def close_nodes() -> None:
        for node in nodes.values():
            await node.close()

    return PorPublisher(
        runtime.db,
        lambda: runtime.engine.state,
        interval_s=settings.por_interval_s,
        keep_rounds=settings.por_keep_rounds,
        wallets=_wallets(development),
        nodes=nodes,
        deposit_assets=_deposit_assets(development),
        on_stop=close_nodes,
    )


def _print_report(report: ReservesReport) -> None:
    typer.echo(
        json.dumps(
            {"checked_at": report.checked_at.isoformat(), "assets": [a.to_json() for a in report.assets]},
            indent=2,
        )
    )


@app.command("publish")
def publish() -> None:
    """Publish a round from the journal's engine state (when no server runs on the data directory)."""
    try:
        settings = load_settings()
        if lock_is_held(settings.data_dir):
            _fail(
                "a server is running on this data directory; it publishes a round every POR_INTERVAL_S, "
                "or stop it and run this again"
            )

        async def run() -> None:
            runtime = Runtime(settings)
            await runtime.start()
            try:
                publisher = server_publisher(runtime)
                try:
                    publication = await publisher.publish_once()
                finally:
                    await publisher.stop()
            finally:
                await runtime.stop()
            published = publication.round
            typer.echo(f"round {published.id} at engine seq {published.engine_seq}")
            for root in sorted(published.roots.values(), key=lambda r: r.asset):
                total = format_amount(root.total, root.scale)
                typer.echo(f"{root.asset}: total {total} over {root.leaf_count} users, root {root.root_hash}")
            if publication.reserves is not None:
                _print_report(publication.reserves)

        asyncio.run(run())
    except (SettingsError, ChainConfigError, ReservesConfigError, ChainError) as exc:
        _fail(str(exc))


@app.command("reserves")
def reserves() -> None:
    """Read hot, cold and deposit balances on chain against the newest round's totals; exit 3 if short."""
    try:
        settings = load_settings()
        wallets = _wallets(settings.development)

        async def run() -> ReservesReport:
            db = create_engine(settings.resolved_database_url())
            nodes = _nodes(settings.development)
            try:
                async with db.connect() as connection:
                    published = await latest_round(connection)
                if published is None:
                    _fail("no round published yet (wcx por publish)")
                missing = sorted({w.chain for w in wallets} - set(nodes))
                if missing:
                    _fail(f"no node configured for chain(s) {', '.join(missing)} (ETH_RPC_URL / BTC_RPC_URL)")
                scales = {asset: root.scale for asset, root in published.roots.items()}
                deposits = await deposit_reserve_wallets(db, _deposit_assets(settings.development))
                report = await check_reserves(
                    wallets + deposits,
                    nodes,
                    {asset: root.total for asset, root in published.roots.items()},
                    scales,
                    now=datetime.now(UTC),
                )
                async with db.begin() as connection:
                    await record_reserves(connection, published.id, report.rows)
                return report
            finally:
                for node in nodes.values():
                    await node.close()
                await db.dispose()

        report = asyncio.run(run())
    except (SettingsError, ChainConfigError, ReservesConfigError, ChainError, KeyError) as exc:
        _fail(str(exc))
    _print_report(report)
    if not report.covered:
        raise typer.Exit(3)
