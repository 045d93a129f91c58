"""Backups at a known seq and restores (whole, or to a point in time) of the journal and the database.

A backup is consistent by construction: the database is dumped first, then the journal is copied.
The projector only writes events that are already durable, so the dump's projection checkpoint is
at or before the copied journal's last seq, and a restore catches the projection up from the
journal. The copy is replayed from seq 1 (CRCs, continuity) and a snapshot is written at its last
seq; `manifest.json` (seq, state hash, SHA-256 of every file) is written last and marks the backup
complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import delete, update
from sqlalchemy.engine import URL, make_url

from wcx.journal import (
    JournalWriter,
    Record,
    SnapshotWriter,
    list_segments,
    list_snapshots,
    read_record_batches,
    recover,
    replay,
)
from wcx.store.db import create_engine
from wcx.store.migrate import upgrade
from wcx.store.projector import CHECKPOINT, Projector
from wcx.store.schema import candles, fills, ledger_entries, market_trades, orders, projector_checkpoints

MANIFEST = "manifest.json"
FORMAT = 1
JOURNAL = "journal"
"""The backup's copy of the journal root (segments in `journal/journal`, snapshots in `journal/snapshots`)."""
POSTGRES_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite3"
PROJECTION_TABLES = (orders, fills, ledger_entries, market_trades, candles)
"""Tables the projector derives from the journal alone: a point-in-time restore rebuilds them."""
REWRITE_BATCH = 1000


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup holds: its journal's last seq and state hash there, the database kind, file digests."""

    format: int
    created_at: str
    seq: int
    state_hash: str
    database: str
    files: dict[str, str]

    def write(self, folder: Path) -> None:
        """Write atomically: the manifest's presence means the backup is complete."""
        partial = folder / f"{MANIFEST}.partial"
        partial.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")
        _fsync(partial)
        partial.rename(folder / MANIFEST)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of a complete backup, or BackupError."""
        path = folder / MANIFEST
        if not path.is_file():
            raise BackupError(f"{folder} is not a complete backup (no {MANIFEST})")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise BackupError(f"{path}: backup format {data.get('format')}, this build reads {FORMAT}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """Where a restore left the exchange: journal seq, state hash there, and whether it was cut short
    (a point-in-time restore, after which the projection was rebuilt from the journal)."""

    seq: int
    state_hash: str
    point_in_time: bool


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file() and path.name != MANIFEST)


def libpq_url(url: URL) -> str:
    """The SQLAlchemy URL as pg_dump / pg_restore / asyncpg take it (no driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _kind(url: URL) -> str:
    if url.get_backend_name() == "postgresql":
        return "postgresql"
    if url.get_backend_name() == "sqlite" and url.database:
        return "sqlite"
    raise BackupError(f"cannot back up a {url.get_backend_name()} database")


async def _run_tool(*command: str) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupError(f"{command[0]} not found: install the PostgreSQL client tools (postgresql-client)")
    process = await asyncio.create_subprocess_exec(
        tool, *command[1:], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupError(
            f"{command[0]} failed ({process.returncode}): {stderr.decode(errors='replace').strip()}"
        )


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the backup API takes its own read lock)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _copy_journal(journal_root: Path, target_root: Path) -> None:
    """Segments in seq order, then snapshots; a live writer's torn last frame is cut at restore."""
    for _, path in list_segments(journal_root):
        (target_root / JOURNAL).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target_root / JOURNAL / path.name)
    for _, path in list_snapshots(journal_root):
        (target_root / "snapshots").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target_root / "snapshots" / path.name)


async def create_backup(journal_root: Path, database_url: str, output: Path) -> Manifest:
    """Dump the database, copy the journal, replay it, snapshot at its last seq, write the manifest."""
    url = make_url(database_url)
    kind = _kind(url)
    if output.exists() and any(output.iterdir()):
        raise BackupError(f"{output} is not empty")
    if not list_segments(journal_root):
        raise BackupError(f"no journal in {journal_root}")
    output.mkdir(parents=True, exist_ok=True)
    # The database first: whatever it has projected is then surely in the journal copied after it.
    if kind == "postgresql":
        await _run_tool(
            "pg_dump", "--format=custom", "--no-owner", f"--file={output / POSTGRES_DUMP}", libpq_url(url)
        )
    else:
        await asyncio.to_thread(_sqlite_copy, Path(url.database or ""), output / SQLITE_COPY)
    copy_root = output / JOURNAL
    await asyncio.to_thread(_copy_journal, journal_root, copy_root)
    engine, seq = await asyncio.to_thread(replay, copy_root)
    if seq == 0:
        raise BackupError(f"the journal in {journal_root} holds no complete record")
    if seq not in {snapshot_seq for snapshot_seq, _ in list_snapshots(copy_root)}:
        SnapshotWriter(copy_root, keep=1_000_000).write(seq, engine.snapshot())
    files = {str(path.relative_to(output)): _sha256(path) for path in _files(output)}
    manifest = Manifest(FORMAT, datetime.now(UTC).isoformat(), seq, engine.state_hash(), kind, files)
    manifest.write(output)
    return manifest


def check_files(source: Path, manifest: Manifest) -> None:
    """Every file the manifest names is present with its digest."""
    for name, digest in manifest.files.items():
        path = source / name
        if not path.is_file():
            raise BackupError(f"{path} is missing from the backup")
        if _sha256(path) != digest:
            raise BackupError(f"{path} does not match its SHA-256 in {MANIFEST}: the backup is damaged")


def seq_at_time(journal_root: Path, at: datetime) -> int:
    """The last seq whose command was sequenced at or before `at` (0 if none)."""
    limit = int(at.timestamp() * 1_000_000_000)
    found = 0
    for batch in read_record_batches(journal_root):
        for seq, ts, _ in batch:
            if ts > limit:
                return found
            found = seq
    return found


def _records_through(journal_root: Path, to_seq: int) -> Iterator[list[Record]]:
    for batch in read_record_batches(journal_root):
        kept = [record for record in batch if record[0] <= to_seq]
        if kept:
            yield kept
        if len(kept) < len(batch):
            return


def _restore_journal(copy_root: Path, journal_root: Path, to_seq: int | None) -> None:
    """Copy the journal (every record, or those through `to_seq`, rewritten) and its snapshots."""
    if to_seq is None:
        _copy_journal(copy_root, journal_root)
        return
    with JournalWriter(journal_root) as writer:
        for batch in _records_through(copy_root, to_seq):
            for start in range(0, len(batch), REWRITE_BATCH):
                writer.append(batch[start : start + REWRITE_BATCH])
            writer.sync()
    for snapshot_seq, path in list_snapshots(copy_root):
        if snapshot_seq <= to_seq:
            (journal_root / "snapshots").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, journal_root / "snapshots" / path.name)


async def _ensure_postgres_database(url: URL) -> None:
    """Create the target database if it does not exist (connecting to the server's `postgres` database)."""
    maintenance = libpq_url(url.set(database="postgres"))
    connection = await asyncpg.connect(maintenance, timeout=10)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await connection.close()


async def _restore_database(source: Path, manifest: Manifest, url: URL, *, force: bool) -> None:
    if _kind(url) != manifest.database:
        raise BackupError(f"the backup holds a {manifest.database} database, DATABASE_URL is {_kind(url)}")
    if manifest.database == "postgresql":
        await _ensure_postgres_database(url)
        await _run_tool(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={libpq_url(url)}",
            str(source / POSTGRES_DUMP),
        )
        return
    target = Path(url.database or "")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: restore over it only with --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(shutil.copyfile, source / SQLITE_COPY, target)


async def _project(journal_root: Path, database_url: str, *, rebuild: bool) -> None:
    """Bring the projection to the journal's end (from scratch after a point-in-time cut)."""
    db = create_engine(database_url)
    try:
        await upgrade(db)
        if rebuild:
            async with db.begin() as connection:
                for table in PROJECTION_TABLES:
                    await connection.execute(delete(table))
                await connection.execute(
                    update(projector_checkpoints)
                    .where(projector_checkpoints.c.name == CHECKPOINT)
                    .values(seq=0)
                )
        projector = Projector(db)
        await projector.start_from_journal(journal_root)
        await projector.flush()
        await projector.stop()
    finally:
        await db.dispose()


async def restore_backup(
    source: Path,
    journal_root: Path,
    database_url: str,
    *,
    to_seq: int | None = None,
    to_time: datetime | None = None,
    force: bool = False,
) -> RestoreResult:
    """Check the backup, lay down the journal (cut at a point in time if asked), restore the database,
    and catch the projection up; the caller runs `wcx verify` on the result."""
    manifest = Manifest.read(source)
    await asyncio.to_thread(check_files, source, manifest)
    copy_root = source / JOURNAL
    if to_time is not None:
        to_seq = seq_at_time(copy_root, to_time)
        if to_seq == 0:
            raise BackupError(f"nothing in the backup was sequenced at or before {to_time.isoformat()}")
    if to_seq is not None and to_seq >= manifest.seq:
        to_seq = None  # the whole backup is the point asked for
    existing = list_segments(journal_root) or list_snapshots(journal_root)
    if existing and not force:
        raise BackupError(f"{journal_root} already holds a journal: restore over it only with --force")
    for folder in ("journal", "snapshots"):
        shutil.rmtree(journal_root / folder, ignore_errors=True)
    await asyncio.to_thread(_restore_journal, copy_root, journal_root, to_seq)
    await _restore_database(source, manifest, make_url(database_url), force=force)
    # After a cut the dumped projection is ahead of the journal: rebuild it from the journal alone.
    await _project(journal_root, database_url, rebuild=to_seq is not None)
    engine, seq = await asyncio.to_thread(recover, journal_root)
    return RestoreResult(seq, engine.state_hash(), to_seq is not None)
