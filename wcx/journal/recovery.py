"""Rebuild the engine from a data directory: newest valid snapshot + journal tail, or a full replay."""

from __future__ import annotations

import logging
from pathlib import Path

from wcx.engine import Engine
from wcx.journal.log import read_record_batches
from wcx.journal.snapshots import load_newest_snapshot

logger = logging.getLogger(__name__)


def _replay_into(engine: Engine, data_dir: Path, *, repair: bool) -> int:
    """Apply every journal record after the engine's last seq; return how many were applied."""
    apply = engine.apply
    count = 0
    for batch in read_record_batches(data_dir, engine.state.last_seq + 1, repair=repair):
        for seq, ts, command in batch:
            apply(seq, ts, command)
        count += len(batch)
    return count


def recover(data_dir: Path | str) -> tuple[Engine, int]:
    """Newest valid snapshot + replay of the tail after it (truncating a torn last record)."""
    data_dir = Path(data_dir)
    found = load_newest_snapshot(data_dir)
    engine, snapshot_seq = found if found is not None else (Engine(), 0)
    replayed = _replay_into(engine, data_dir, repair=True)
    logger.info(
        "recovered %s: snapshot at seq %d + %d journal records, now at seq %d",
        data_dir,
        snapshot_seq,
        replayed,
        engine.state.last_seq,
    )
    return engine, engine.state.last_seq


def replay(data_dir: Path | str) -> tuple[Engine, int]:
    """Replay the whole journal from seq 1, ignoring snapshots and leaving the files untouched."""
    engine = Engine()
    _replay_into(engine, Path(data_dir), repair=False)
    return engine, engine.state.last_seq
