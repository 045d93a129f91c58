"""`wcx wallet sweep …`: plan deposit-address sweeps for the ceremony, submit what it signed, follow them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.config.settings import SettingsError, load_settings
from wcx.custody.ceremony import write_new_file
from wcx.primitives import format_amount
from wcx.runtime import lock_is_held
from wcx.store.db import create_engine
from wcx.wallet.chains.port import ChainError
from wcx.wallet.config import ChainConfigError, ChainsConfig, WalletSettings, load_chains
from wcx.wallet.sweeps import (
    Sweep,
    SweepError,
    SweepProcessor,
    awaiting_signature,
    cancel_sweep,
    plan_document,
    plan_sweeps,
    submit_signed,
)
from wcx.wallet.sweeps.records import load_sweeps
from wcx.wallet.sweeps.states import IN_FLIGHT
from wcx.wallet.sweeps.tables import wallet_sweeps
from wcx.wallet.sweeps.wiring import sweep_targets
from wcx.wallet.withdrawals import WithdrawalConfigError
from wcx.wallet.withdrawals.processor import HotWallet
from wcx.wallet.withdrawals.wiring import hot_wallets

T = TypeVar("T")
Wallets = Callable[[], Awaitable[dict[str, HotWallet]]]
"""Opens the hot wallets (node and signer) when a command needs them."""

app = typer.Typer(help="Wallet operations.", no_args_is_help=True)
sweep_app = typer.Typer(help="Sweep deposit addresses into the hot wallet.", no_args_is_help=True)
app.add_typer(sweep_app, name="sweep")


@app.callback()
def _group() -> None:
    """Wallet operations."""


@sweep_app.callback()
def _sweep_group() -> None:
    """Sweep deposit addresses into the hot wallet."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _run(
    body: Callable[[ChainsConfig, Wallets, AsyncEngine], Awaitable[T]],
) -> T:
    """Run `body(config, open_wallets, db)` against the configured database; errors as one-line failures."""
    try:
        settings = load_settings()
        config = load_chains(WalletSettings(), development=settings.development)

        async def main() -> T:
            db = create_engine(settings.resolved_database_url())
            opened: dict[str, HotWallet] = {}

            async def open_wallets() -> dict[str, HotWallet]:
                opened.update(await hot_wallets(config))
                return opened

            try:
                return await body(config, open_wallets, db)
            finally:
                for wallet in opened.values():
                    await wallet.node.close()
                await db.dispose()

        return asyncio.run(main())
    except (SettingsError, ChainConfigError, WithdrawalConfigError, ChainError, SweepError, OSError) as exc:
        _fail(str(exc))


def _line(sweep: Sweep, config: ChainsConfig) -> str:
    scale = config.chain(sweep.chain).asset(sweep.asset).decimals
    source = sweep.from_address or f"{len(sweep.inputs)} outputs"
    return (
        f"{sweep.id} {sweep.state.value:9} {sweep.kind.value:13} {format_amount(sweep.amount, scale)} "
        f"{sweep.asset} {source} -> {sweep.to_address} {sweep.tx_hash or ''}".rstrip()
    )


@sweep_app.command("plan")
def plan(
    output: Annotated[
        Path, typer.Option("--output", help="Where the plan for the ceremony goes (never overwritten).")
    ],
    chain: Annotated[
        str | None, typer.Option("--chain", help="Only this chain (one hot address per plan).")
    ] = None,
) -> None:
    """Plan sweeps of every deposit address above its asset's sweep minimum and write the unsigned plan."""

    async def body(config: ChainsConfig, open_wallets: Wallets, db: AsyncEngine) -> None:
        wallets = await open_wallets()
        targets = [t for t in sweep_targets(config, wallets) if chain is None or t.spec.name == chain]
        if not targets:
            _fail("no hot wallet to sweep into (a chain needs a node and the hot-wallet signer)")
        for target in targets:
            for sweep in await plan_sweeps(db, target):
                typer.echo(f"planned {_line(sweep, config)}")
        waiting = [s for s in await awaiting_signature(db) if chain is None or s.chain == chain]
        if not waiting:
            typer.echo("nothing to sign")
            return
        document = plan_document(waiting, now=datetime.now(UTC))
        write_new_file(output, json.dumps(document, indent=2) + "\n", mode=0o644)
        typer.echo(f"{len(waiting)} sweep(s) to sign written to {output}")

    _run(body)


@sweep_app.command("submit")
def submit(signed_file: Annotated[Path, typer.Argument(help="The ceremony's signed sweeps.")]) -> None:
    """Check the signed sweeps offline against their plan and record them; the wallet broadcasts them."""

    async def body(config: ChainsConfig, _: Wallets, db: AsyncEngine) -> None:
        document = json.loads(signed_file.read_text(encoding="utf-8"))
        for sweep in await submit_signed(db, document):
            typer.echo(f"signed {_line(sweep, config)}")

    try:
        _run(body)
    except ValueError as exc:
        _fail(f"{signed_file}: {exc}")


@sweep_app.command("list")
def list_sweeps(
    all_states: Annotated[bool, typer.Option("--all", help="Confirmed and failed sweeps too.")] = False,
) -> None:
    """Sweeps in flight (planned, signed, broadcast), oldest first."""

    async def body(config: ChainsConfig, _: Wallets, db: AsyncEngine) -> None:
        condition = [] if all_states else [wallet_sweeps.c.state.in_([s.value for s in IN_FLIGHT])]
        async with db.connect() as conn:
            for sweep in await load_sweeps(conn, *condition):
                typer.echo(_line(sweep, config) + (f"  ({sweep.last_error})" if sweep.last_error else ""))

    _run(body)


@sweep_app.command("cancel")
def cancel(sweep_id: Annotated[str, typer.Argument()]) -> None:
    """Abandon a planned sweep (its addresses can be planned again)."""

    async def body(config: ChainsConfig, _: Wallets, db: AsyncEngine) -> None:
        typer.echo(f"cancelled {_line(await cancel_sweep(db, sweep_id), config)}")

    _run(body)


@sweep_app.command("run")
def run(once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False) -> None:
    """Sign gas top-ups, broadcast signed sweeps, follow them (when no server runs; `wcx serve` does it)."""
    try:
        if lock_is_held(load_settings().data_dir):
            _fail("a server is running on this data directory: its wallet role processes the sweeps")
    except SettingsError as exc:
        _fail(str(exc))

    async def body(config: ChainsConfig, open_wallets: Wallets, db: AsyncEngine) -> None:
        processor = SweepProcessor(db, config, await open_wallets())
        if once:
            typer.echo(f"{await processor.run_once()} step(s)")
            return
        await processor.run_forever(asyncio.Event(), poll_s=5.0)

    _run(body)
