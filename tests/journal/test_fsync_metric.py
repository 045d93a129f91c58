"""Each group commit's fdatasync is timed into `journal_fsync_duration_seconds` (JournalFsyncSlow)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from .conftest import records_of, trading_stream, write_journal


def _syncs() -> float:
    return REGISTRY.get_sample_value("journal_fsync_duration_seconds_count") or 0.0


def test_every_group_commit_is_timed(tmp_path: Path) -> None:
    records = records_of(trading_stream(30))
    before = _syncs()
    write_journal(tmp_path, records, batch=10, segment_bytes=1 << 20)
    assert _syncs() == before + 3
    assert (REGISTRY.get_sample_value("journal_fsync_duration_seconds_sum") or 0.0) > 0
