"""Following a journal another process is writing: its records in order, up to a seq it says is durable.

The writer's process publishes how far its journal is durable (fsynced); a follower asks for the
records up to that seq and no further, so it never reads a frame that is still being written or
that a power loss could take back. Everything it returns is CRC-checked and contiguous; within the
durable range a short, unreadable or missing frame is corruption (`JournalCorruption`), never
something to wait for.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import msgspec

from wcx.journal.codec import (
    FRAME_HEADER,
    MAX_PAYLOAD,
    SEGMENT_HEADER,
    JournalCorruption,
    JournalError,
    Record,
    decode_records,
    decode_segment_header,
)
from wcx.journal.log import list_segments, segment_path

READ_BYTES = 1 << 20
"""Bytes read from the segment per system call."""


class JournalTail:
    """The records from `from_seq` on, read incrementally as the journal grows (see the module docstring)."""

    def __init__(self, data_dir: Path | str, from_seq: int = 1) -> None:
        self.data_dir = Path(data_dir)
        self.next_seq = from_seq
        self._path: Path | None = None
        self._fd = -1
        self._read_to = 0
        """Byte offset in the segment up to which `_buffer` holds the file."""
        self._buffer = b""
        self._offset = 0
        """Where the next unread frame starts in `_buffer`."""

    def read(self, through: int, limit: int = 4096) -> list[Record]:
        """The next records up to seq `through` (durable), at most `limit` of them; [] when there are none."""
        wanted = min(through - self.next_seq + 1, limit)
        if wanted <= 0:
            return []
        if self._fd < 0:
            self._open_segment_with(self.next_seq)
        payloads: list[memoryview] = []
        while len(payloads) < wanted:
            payload = self._frame()
            if payload is not None:
                payloads.append(payload)
            elif self._fill():
                continue
            elif self._offset < len(self._buffer):
                raise self._corrupt(f"the frame of seq {self.next_seq + len(payloads)} is cut short")
            elif payloads:
                break  # the rest is in the next segment: the next call opens it
            else:
                self._open_next(self.next_seq)
        return self._decode(payloads)

    def _frame(self) -> memoryview | None:
        """The next complete, CRC-checked frame's payload in the buffer, or None."""
        buffer, offset = self._buffer, self._offset
        head = FRAME_HEADER.size
        if len(buffer) - offset < head:
            return None
        length, crc = FRAME_HEADER.unpack_from(buffer, offset)
        if length == 0 or length > MAX_PAYLOAD:
            raise self._corrupt(f"impossible frame length {length}")
        end = offset + head + length
        if end > len(buffer):
            return None
        payload = memoryview(buffer)[offset + head : end]
        if zlib.crc32(payload) != crc:
            raise self._corrupt("bad CRC")
        self._offset = end
        return payload

    def _fill(self) -> bool:
        """Read more of the segment after what is buffered; whether there was any."""
        more = os.pread(self._fd, READ_BYTES, self._read_to)
        if not more:
            return False
        self._buffer = self._buffer[self._offset :] + more
        self._offset = 0
        self._read_to += len(more)
        return True

    def _decode(self, payloads: list[memoryview]) -> list[Record]:
        if not payloads:
            return []
        try:
            records = decode_records(payloads)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise self._corrupt(f"undecodable record after seq {self.next_seq - 1} ({exc})") from exc
        for index, (seq, _, _) in enumerate(records):
            if seq != self.next_seq + index:
                raise self._corrupt(f"record has seq {seq}, expected {self.next_seq + index}")
        self.next_seq += len(records)
        return records

    def _open_segment_with(self, seq: int) -> None:
        """Open the segment holding `seq` and pass over the frames before it."""
        before = [(first, path) for first, path in list_segments(self.data_dir) if first <= seq]
        if not before:
            raise JournalError(f"journal of {self.data_dir} has no segment holding seq {seq}")
        first, path = before[-1]
        self._open(first, path)
        for _ in range(seq - first):
            while self._frame() is None:
                if not self._fill():
                    raise self._corrupt(f"segment ends before seq {seq}")

    def _open_next(self, seq: int) -> None:
        path = segment_path(self.data_dir, seq)
        if not path.exists():
            raise self._corrupt(f"segment ends before seq {seq} and no segment starts there")
        self._open(seq, path)

    def _open(self, first: int, path: Path) -> None:
        self.close()
        fd = os.open(path, os.O_RDONLY)
        header = os.pread(fd, SEGMENT_HEADER.size, 0)
        try:
            if len(header) < SEGMENT_HEADER.size or decode_segment_header(path, header) != first:
                raise JournalCorruption(f"{path}: segment header does not name first seq {first}")
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._path = fd, path
        self._read_to, self._buffer, self._offset = SEGMENT_HEADER.size, b"", 0

    def _corrupt(self, reason: str) -> JournalCorruption:
        position = self._read_to - len(self._buffer) + self._offset
        return JournalCorruption(f"{self._path}: {reason} at byte offset {position}")

    def close(self) -> None:
        """Close the current segment."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
