"""Append-only, segmented command log: a group-commit writer and a validating reader.

Segments are `<data_dir>/journal/<first_seq:020d>.wal`. Only the last record of the last
segment may be torn (a crash mid-append): opening for recovery truncates it and logs a
warning. Anything else that does not check out raises `JournalCorruption` naming the
segment file and byte offset; nothing is ever skipped silently.
"""

from __future__ import annotations

import logging
import os
import re
import time
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import msgspec

from wcx.journal.codec import (
    FRAME_HEADER,
    MAX_PAYLOAD,
    SEGMENT_HEADER,
    JournalCorruption,
    JournalError,
    Record,
    decode_record,
    decode_records,
    decode_segment_header,
    encode_frames,
    encode_segment_header,
)
from wcx.observability.metrics import JOURNAL_FSYNC_SECONDS

logger = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_SEGMENT_NAME = re.compile(r"^(\d{20})\.wal$")
# fdatasync also flushes the file size, which is all an appended segment needs; macOS lacks it.
_datasync = getattr(os, "fdatasync", os.fsync)


def journal_dir(data_dir: Path) -> Path:
    """Where the segments of a data directory live."""
    return data_dir / "journal"


def segment_path(data_dir: Path, first_seq: int) -> Path:
    """The file of the segment whose first record is `first_seq`."""
    return journal_dir(data_dir) / f"{first_seq:020d}.wal"


def list_segments(data_dir: Path) -> list[tuple[int, Path]]:
    """(first_seq, path) of every segment, oldest first."""
    folder = journal_dir(data_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _SEGMENT_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def fsync_dir(path: Path) -> None:
    """Make entries created, renamed or removed in a directory durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _corrupt(path: Path, offset: int, reason: str) -> JournalCorruption:
    return JournalCorruption(f"{path}: {reason} at byte offset {offset}")


def _torn(path: Path, offset: int, size: int, *, last: bool, repair: bool, reason: str) -> None:
    """Deal with a bad tail at `offset`: an error unless it ends the last segment."""
    if not last:
        raise _corrupt(path, offset, f"{reason} in a segment that is not the last")
    if not repair:
        logger.warning(
            "%s: ignoring torn tail at byte offset %d (%d bytes): %s", path, offset, size - offset, reason
        )
        return
    if offset < SEGMENT_HEADER.size:
        path.unlink()
        fsync_dir(path.parent)
        logger.warning("%s: removed segment with a torn header (%d bytes): %s", path, size, reason)
        return
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    logger.warning(
        "%s: truncated torn tail at byte offset %d (%d bytes dropped): %s",
        path,
        offset,
        size - offset,
        reason,
    )


def _frames(path: Path, data: bytes, *, last: bool, repair: bool) -> Iterator[tuple[int, memoryview]]:
    """(offset, payload) of every valid frame of one segment whose header was checked."""
    view = memoryview(data)
    unpack, crc32, head = FRAME_HEADER.unpack_from, zlib.crc32, FRAME_HEADER.size
    offset, size = SEGMENT_HEADER.size, len(data)
    while offset < size:
        if size - offset < head:
            _torn(path, offset, size, last=last, repair=repair, reason="incomplete frame header")
            return
        length, crc = unpack(data, offset)
        if length == 0 or length > MAX_PAYLOAD:
            # A crash after the file grew but before its pages were written leaves zeros.
            if not data[offset:].strip(b"\x00"):
                _torn(path, offset, size, last=last, repair=repair, reason="zero-filled tail")
                return
            raise _corrupt(path, offset, f"impossible frame length {length}")
        end = offset + head + length
        if end > size:
            _torn(path, offset, size, last=last, repair=repair, reason=f"frame of {length} bytes cut short")
            return
        payload = view[offset + head : end]
        if crc32(payload) != crc:
            if end == size:
                _torn(path, offset, size, last=last, repair=repair, reason="bad CRC on the final frame")
                return
            raise _corrupt(path, offset, "bad CRC")
        yield offset, payload
        offset = end


def _segment_data(path: Path, first_seq: int, *, last: bool, repair: bool) -> bytes | None:
    """The bytes of a segment with a valid header, or None for a torn header on the last one."""
    data = path.read_bytes()
    if len(data) < SEGMENT_HEADER.size:
        _torn(path, 0, len(data), last=last, repair=repair, reason="incomplete segment header")
        return None
    header_seq = decode_segment_header(path, data)
    if header_seq != first_seq:
        raise _corrupt(path, 0, f"header says first seq {header_seq} but the file name says {first_seq}")
    return data


def _decode(path: Path, offset: int, payload: memoryview) -> Record:
    try:
        return decode_record(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _corrupt(path, offset, f"undecodable record ({exc})") from exc


DECODE_CHUNK = 4096
"""Records decoded per msgspec call when reading: amortizes the call, bounds the memory."""


def _decode_chunk(path: Path, first_seq: int, frames: list[tuple[int, memoryview]]) -> list[Record]:
    """Decode frames whose seqs must run from `first_seq`; errors name the offending frame."""
    try:
        records = decode_records([payload for _, payload in frames])
    except (msgspec.DecodeError, msgspec.ValidationError):
        records = [_decode(path, offset, payload) for offset, payload in frames]  # finds the bad one
    for index, record in enumerate(records):
        if record[0] != first_seq + index:
            raise _corrupt(
                path, frames[index][0], f"record has seq {record[0]}, expected {first_seq + index}"
            )
    return records


def read_record_batches(data_dir: Path, from_seq: int = 1, *, repair: bool = False) -> Iterator[list[Record]]:
    """Every record with seq >= from_seq, in lists, checking CRCs and that seqs are contiguous.

    With `repair`, a torn tail of the last segment is truncated (logged); without it the
    tail is left alone and reading stops before it (logged too).
    """
    segments = list_segments(data_dir)
    start = max((i for i, (first, _) in enumerate(segments) if first <= from_seq), default=-1)
    if start < 0:
        if segments or from_seq > 1:
            first = segments[0][0] if segments else None
            raise JournalError(
                f"journal of {data_dir} starts at seq {first}; cannot read from seq {from_seq}"
            )
        return
    expected = segments[start][0]
    for index in range(start, len(segments)):
        first, path = segments[index]
        last = index == len(segments) - 1
        if first != expected:
            raise _corrupt(path, 0, f"segment starts at seq {first}, expected {expected} (gap or overlap)")
        data = _segment_data(path, first, last=last, repair=repair)
        if data is None:
            break
        seq = first
        chunk: list[tuple[int, memoryview]] = []
        for frame in _frames(path, data, last=last, repair=repair):
            if seq >= from_seq:
                chunk.append(frame)
                if len(chunk) == DECODE_CHUNK:
                    yield _decode_chunk(path, seq - DECODE_CHUNK + 1, chunk)
                    chunk = []
            seq += 1
        if chunk:
            yield _decode_chunk(path, seq - len(chunk), chunk)
        expected = seq
    if from_seq > expected:
        raise JournalError(
            f"journal of {data_dir} ends at seq {expected - 1}; cannot read from seq {from_seq}"
        )


def read_records(data_dir: Path, from_seq: int = 1, *, repair: bool = False) -> Iterator[Record]:
    """Every record with seq >= from_seq, one at a time (see `read_record_batches`)."""
    for batch in read_record_batches(data_dir, from_seq, repair=repair):
        yield from batch


class JournalWriter:
    """Appends records to the newest segment. `append(records)` then `sync()` is one group commit.

    Opening repairs a torn tail of the last segment. `append` and `sync` must not run at the
    same time (the sequencer calls `sync` in a worker thread only between appends). After a
    failed write or sync the writer refuses further appends: the process must restart and
    recover, because the kernel may have dropped the unsynced pages.
    """

    def __init__(self, data_dir: Path | str, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> None:
        self.data_dir = Path(data_dir)
        self.segment_bytes = segment_bytes
        self.syncs = 0
        self.last_seq = 0
        self.last_ts = 0
        self._fd = -1
        self._size = 0
        self.segment_first_seq = 0
        """First seq of the segment being written: names the file behind `fileno()`."""
        self._failed: BaseException | None = None
        folder = journal_dir(self.data_dir)
        if not folder.is_dir():
            folder.mkdir(parents=True)
            fsync_dir(folder.parent)
        self._open_tail()

    def _open_tail(self) -> None:
        segments = list_segments(self.data_dir)
        while segments:
            first, path = segments[-1]
            data = _segment_data(path, first, last=True, repair=True)
            if data is None:
                segments.pop()
                continue
            count, tail = 0, None
            for offset, payload in _frames(path, data, last=True, repair=True):
                count, tail = count + 1, (offset, payload)
            self.last_seq = first + count - 1
            if tail is not None:
                seq, self.last_ts, _ = _decode(path, *tail)
                if seq != self.last_seq:
                    raise _corrupt(path, tail[0], f"last record has seq {seq}, expected {self.last_seq}")
            elif len(segments) > 1:
                self.last_ts = self._last_ts_of(*segments[-2])
            self._fd = os.open(path, os.O_WRONLY)
            self.segment_first_seq = first
            self._size = os.lseek(self._fd, 0, os.SEEK_END)
            # A process killed after a write but before its fsync leaves records only in the page cache;
            # recovery applies them, so make them durable before anything depends on them.
            _datasync(self._fd)
            return

    @staticmethod
    def _last_ts_of(first: int, path: Path) -> int:
        data = _segment_data(path, first, last=False, repair=False)
        frames = deque(_frames(path, data or b"", last=False, repair=False), maxlen=1)
        return _decode(path, *frames[-1])[1] if frames else 0

    def append(self, records: Sequence[Record]) -> None:
        """Write frames for contiguous records (seq last_seq + 1, …) with one write call; no fsync."""
        if not records:
            return
        if self._failed is not None:
            raise JournalError("journal writer failed earlier; restart and recover") from self._failed
        first, last = records[0][0], records[-1][0]
        if first != self.last_seq + 1 or last != first + len(records) - 1:
            raise JournalError(f"records {first}..{last} do not follow seq {self.last_seq}")
        buffer = bytearray()
        encode_frames(records, buffer)
        try:
            if self._fd < 0 or (
                self._size > SEGMENT_HEADER.size and self._size + len(buffer) > self.segment_bytes
            ):
                self._roll(first)
            view = memoryview(buffer)
            while view:
                view = view[os.write(self._fd, view) :]
        except BaseException as exc:
            self._failed = exc
            raise
        self._size += len(buffer)
        self.last_seq, self.last_ts = last, records[-1][1]

    def _roll(self, first_seq: int) -> None:
        """Start a new segment; the old one is made durable first so only the last can be torn."""
        if self._fd >= 0:
            _datasync(self._fd)
            os.close(self._fd)
            self._fd = -1
        path = segment_path(self.data_dir, first_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.segment_first_seq = first_seq
        header = encode_segment_header(first_seq)
        os.write(self._fd, header)
        os.fsync(self._fd)
        fsync_dir(path.parent)
        self._size = len(header)

    def sync(self) -> None:
        """Make every appended record durable (one fdatasync)."""
        if self._failed is not None:
            raise JournalError("journal writer failed earlier; restart and recover") from self._failed
        if self._fd < 0:
            return
        started = time.perf_counter()
        try:
            _datasync(self._fd)
        except BaseException as exc:
            self._failed = exc
            raise
        self.record_sync(time.perf_counter() - started)

    def fileno(self) -> int:
        """The descriptor of the segment being written (-1 before the first), for a sync elsewhere."""
        return self._fd

    def record_sync(self, seconds: float) -> None:
        """Count a completed fdatasync of `fileno()`, here or in `wcx.journal.sync_process`."""
        JOURNAL_FSYNC_SECONDS.observe(seconds)
        self.syncs += 1

    def close(self) -> None:
        """Close the current segment (does not sync)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
