"""`wcx backup create|restore`: consistent backups at a known seq, whole or point-in-time restores."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from wcx.cli.dev import _settings
from wcx.integrity.backup import BackupError, create_backup, restore_backup
from wcx.runtime import lock_is_held

app = typer.Typer(help="Backups and restores of the journal and the database.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Backups and restores of the journal and the database."""


@app.command("create")
def create(
    output: Annotated[Path, typer.Option(help="An empty or new directory for the backup.")],
) -> None:
    """Dump the database, then copy the journal; replay it, snapshot at its last seq, write the manifest."""
    settings = _settings()
    try:
        manifest = asyncio.run(create_backup(settings.journal_root, settings.resolved_database_url(), output))
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backup {output}: seq {manifest.seq}, state hash {manifest.state_hash}, {manifest.database}")


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            "an ISO 8601 time, e.g. 2026-11-24T07:00:00Z", param_hint="--to-time"
        ) from None
    if at.tzinfo is None:
        raise typer.BadParameter("give a time zone (Z or +hh:mm)", param_hint="--to-time")
    return at


@app.command("restore")
def restore(
    source: Annotated[Path, typer.Option("--from", help="A backup directory made by `wcx backup create`.")],
    to_seq: Annotated[
        int | None, typer.Option(min=1, help="Point in time: keep commands through this seq.")
    ] = None,
    to_time: Annotated[
        str | None, typer.Option(help="Point in time: keep commands sequenced at or before this ISO time.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing journal / SQLite file.")] = False,
) -> None:
    """Restore into DATA_DIR and DATABASE_URL (the server must be stopped), then catch the projection up."""
    if to_seq is not None and to_time is not None:
        raise typer.BadParameter("give --to-seq or --to-time, not both")
    settings = _settings()
    if lock_is_held(settings.data_dir):
        typer.echo(f"error: a running wcx owns {settings.data_dir}; stop it first", err=True)
        raise typer.Exit(1)
    try:
        result = asyncio.run(
            restore_backup(
                source,
                settings.journal_root,
                settings.resolved_database_url(),
                to_seq=to_seq,
                to_time=_parse_time(to_time),
                force=force,
            )
        )
    except BackupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    kind = (
        "point-in-time restore (projection rebuilt from the journal)" if result.point_in_time else "restore"
    )
    typer.echo(f"{kind}: seq {result.seq}, state hash {result.state_hash}; run `wcx verify` to check")
