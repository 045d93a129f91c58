"""Durable command journal: framed segmented log with group commit, snapshots, recovery."""

from wcx.journal.codec import (
    CODEC_VERSION,
    JournalCorruption,
    JournalError,
    Record,
    UnsupportedVersionError,
    decode_record,
    encode_record,
)
from wcx.journal.log import (
    DEFAULT_SEGMENT_BYTES,
    JournalWriter,
    list_segments,
    read_record_batches,
    read_records,
    segment_path,
)
from wcx.journal.recovery import recover, replay
from wcx.journal.snapshots import (
    DEFAULT_KEEP,
    SNAPSHOT_EVERY,
    SNAPSHOT_INTERVAL_S,
    SnapshotSchedule,
    SnapshotWriter,
    list_snapshots,
    load_newest_snapshot,
    read_snapshot,
)
from wcx.journal.tail import JournalTail

__all__ = [
    "CODEC_VERSION",
    "DEFAULT_KEEP",
    "DEFAULT_SEGMENT_BYTES",
    "SNAPSHOT_EVERY",
    "SNAPSHOT_INTERVAL_S",
    "JournalCorruption",
    "JournalError",
    "JournalTail",
    "JournalWriter",
    "Record",
    "SnapshotSchedule",
    "SnapshotWriter",
    "UnsupportedVersionError",
    "decode_record",
    "encode_record",
    "list_segments",
    "list_snapshots",
    "load_newest_snapshot",
    "read_record_batches",
    "read_records",
    "read_snapshot",
    "recover",
    "replay",
    "segment_path",
]
