"""`wcx verify`: prove the journal, snapshots, SQL projection, ledger and audit chain agree."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from wcx.cli.dev import _settings
from wcx.integrity.verify import IntegrityReport, verify_integrity
from wcx.store.db import create_engine


async def _run(data_dir: Path, database_url: str | None, to_seq: int | None) -> IntegrityReport:
    db = create_engine(database_url) if database_url else None
    try:
        return await verify_integrity(data_dir, db, to_seq=to_seq)
    finally:
        if db is not None:
            await db.dispose()


def verify(
    to_seq: Annotated[
        int | None, typer.Option(min=1, help="Replay only up to this seq (point in time; skips SQL).")
    ] = None,
    database: Annotated[
        bool, typer.Option(help="Also check the SQL projection, ledger and audit chain.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check journal CRCs and continuity, snapshots, projection = engine, double entry, audit chain."""
    settings = _settings()
    url = settings.resolved_database_url() if database else None
    report = asyncio.run(_run(settings.journal_root, url, to_seq))
    if as_json:
        checks = [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
        typer.echo(
            json.dumps(
                {"ok": report.ok, "seq": report.last_seq, "state_hash": report.state_hash, "checks": checks}
            )
        )
    else:
        for check in report.checks:
            typer.echo(f"{'OK  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        typer.echo(f"state hash {report.state_hash} at seq {report.last_seq}")
    if not report.ok:
        raise typer.Exit(1)
