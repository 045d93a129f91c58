"""`wcx audit …`: check the audit trail's hash chain."""

from __future__ import annotations

import asyncio

import typer

from wcx.cli.dev import _settings
from wcx.store.audit import AuditVerdict, verify_audit
from wcx.store.db import create_engine

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The audit trail."""


async def _verify(url: str) -> AuditVerdict:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await verify_audit(connection)
    finally:
        await engine.dispose()


@app.command("verify")
def verify() -> None:
    """Walk the audit chain; exit 1 naming the first broken record, 0 when every link holds."""
    verdict = asyncio.run(_verify(_settings().resolved_database_url()))
    if verdict.ok:
        typer.echo(f"audit chain OK: {verdict.checked} records")
        return
    typer.echo(
        f"audit chain BROKEN at record {verdict.broken_id} ({verdict.checked} records before it verified): "
        f"{verdict.reason}"
    )
    raise typer.Exit(1)
