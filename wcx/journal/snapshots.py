"""Engine snapshots: `<data_dir>/snapshots/<seq:020d>.snap`, written atomically, newest K kept.

File = header (magic, version, seq, payload length, CRC32 of payload) + `Engine.snapshot()` bytes.
A snapshot is only ever taken of state whose commands are already durable in the journal.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from wcx.engine import Engine, SnapshotError
from wcx.journal.log import fsync_dir

logger = logging.getLogger(__name__)

SNAPSHOT_MAGIC = b"WCXS"
SNAPSHOT_VERSION = 1
SNAPSHOT_HEADER = struct.Struct("<4sIQQI")
DEFAULT_KEEP = 3
SNAPSHOT_EVERY = 100_000
"""Default: a snapshot after this many commands since the previous one..."""
SNAPSHOT_INTERVAL_S = 300.0
"""...or after this many seconds, whichever comes first."""
_SNAPSHOT_NAME = re.compile(r"^(\d{20})\.snap$")
_TEMP_SUFFIX = ".tmp"


def snapshot_dir(data_dir: Path) -> Path:
    """Where the snapshots of a data directory live."""
    return data_dir / "snapshots"


def list_snapshots(data_dir: Path) -> list[tuple[int, Path]]:
    """(seq, path) of every complete snapshot file, oldest first; temp files are not listed."""
    folder = snapshot_dir(data_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _SNAPSHOT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


@dataclass(slots=True)
class SnapshotSchedule:
    """When the next snapshot is due: `every` commands or `interval` seconds after the previous one."""

    every: int | None
    interval: float | None
    last_seq: int
    last_time: float

    def due(self, seq: int, now: float) -> bool:
        """Whether the state at `seq` (newer than the last snapshot) should be written at `now`."""
        if seq == self.last_seq:
            return False
        by_count = self.every is not None and seq - self.last_seq >= self.every
        return by_count or (self.interval is not None and now - self.last_time >= self.interval)

    def taken(self, seq: int, now: float) -> None:
        """Record a snapshot of the state at `seq`."""
        self.last_seq, self.last_time = seq, now


class SnapshotWriter:
    """Writes snapshots atomically (temp file + fsync + rename + directory fsync), keeps the newest `keep`."""

    def __init__(self, data_dir: Path | str, *, keep: int = DEFAULT_KEEP) -> None:
        if keep < 1:
            raise ValueError("keep at least one snapshot")
        self.data_dir = Path(data_dir)
        self.keep = keep
        self.folder = snapshot_dir(self.data_dir)

    def write(self, seq: int, payload: bytes) -> Path:
        """Store `payload` (an `Engine.snapshot()` taken after seq) and prune old snapshots."""
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True)
            fsync_dir(self.folder.parent)
        final = self.folder / f"{seq:020d}.snap"
        temp = final.with_name(final.name + _TEMP_SUFFIX)
        header = SNAPSHOT_HEADER.pack(
            SNAPSHOT_MAGIC, SNAPSHOT_VERSION, seq, len(payload), zlib.crc32(payload)
        )
        with open(temp, "wb") as handle:
            handle.write(header)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
        fsync_dir(self.folder)
        self._prune()
        return final

    def _prune(self) -> None:
        """Drop all but the newest `keep` snapshots, and temp files a crash left behind."""
        for _, path in list_snapshots(self.data_dir)[: -self.keep]:
            path.unlink()
        for path in self.folder.glob("*" + _TEMP_SUFFIX):
            path.unlink(missing_ok=True)


def read_snapshot(seq: int, path: Path) -> Engine:
    """Validate and restore one snapshot file (raises SnapshotError naming the problem)."""
    data = path.read_bytes()
    if len(data) < SNAPSHOT_HEADER.size:
        raise SnapshotError("shorter than its header")
    magic, version, header_seq, length, crc = SNAPSHOT_HEADER.unpack_from(data, 0)
    if magic != SNAPSHOT_MAGIC:
        raise SnapshotError(f"bad magic {magic!r}")
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(f"snapshot file version {version}, this build reads {SNAPSHOT_VERSION}")
    payload = memoryview(data)[SNAPSHOT_HEADER.size :]
    if header_seq != seq or length != len(payload) or zlib.crc32(payload) != crc:
        raise SnapshotError("header does not match the file (seq, length or CRC)")
    engine = Engine.restore(bytes(payload))
    if engine.state.last_seq != seq:
        raise SnapshotError(f"state is at seq {engine.state.last_seq}, file says {seq}")
    return engine


def load_newest_snapshot(data_dir: Path) -> tuple[Engine, int] | None:
    """The engine restored from the newest valid snapshot and its seq; invalid ones are logged and skipped."""
    for seq, path in reversed(list_snapshots(data_dir)):
        try:
            return read_snapshot(seq, path), seq
        except SnapshotError as exc:
            logger.warning("%s: skipping invalid snapshot: %s", path, exc)
    return None
