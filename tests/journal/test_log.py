"""The segmented log: framing, rollover, reading from a seq, torn tails and corruption."""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from wcx.journal import (
    JournalCorruption,
    JournalError,
    JournalWriter,
    UnsupportedVersionError,
    list_segments,
    log,
    read_records,
    segment_path,
)
from wcx.journal.codec import FRAME_HEADER, MAGIC, SEGMENT_HEADER, encode_frames, encode_segment_header

from .conftest import EVERY_COMMAND, records_of, write_journal

RECORDS = records_of(EVERY_COMMAND * 3)


def frame_offsets(path: Path) -> list[int]:
    """Byte offset of every complete frame of a segment."""
    data = path.read_bytes()
    offsets, offset = [], SEGMENT_HEADER.size
    while offset + FRAME_HEADER.size <= len(data):
        length, _ = FRAME_HEADER.unpack_from(data, offset)
        if offset + FRAME_HEADER.size + length > len(data):
            break
        offsets.append(offset)
        offset += FRAME_HEADER.size + length
    return offsets


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def one_segment(tmp_path: Path, count: int = 10) -> Path:
    write_journal(tmp_path, RECORDS[:count], segment_bytes=1 << 20)
    (segment,) = list_segments(tmp_path)
    return segment[1]


def test_records_roundtrip_through_files(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, segment_bytes=1 << 20)
    assert list(read_records(tmp_path)) == RECORDS


def test_frame_is_length_crc_payload(tmp_path: Path) -> None:
    path = one_segment(tmp_path, 1)
    data = path.read_bytes()
    assert data[: SEGMENT_HEADER.size] == encode_segment_header(1)
    length, crc = FRAME_HEADER.unpack_from(data, SEGMENT_HEADER.size)
    payload = data[SEGMENT_HEADER.size + FRAME_HEADER.size :]
    assert (len(payload), zlib.crc32(payload)) == (length, crc)


def test_segments_roll_over_at_the_size_limit(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=1, segment_bytes=600)
    segments = list_segments(tmp_path)
    assert len(segments) > 3
    for first_seq, path in segments:
        assert path == segment_path(tmp_path, first_seq)
        assert path.stat().st_size <= 600
    assert segments[0][0] == 1
    assert list(read_records(tmp_path)) == RECORDS


def test_a_batch_stays_in_one_segment(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=len(RECORDS), segment_bytes=600)
    assert len(list_segments(tmp_path)) == 1


@pytest.mark.parametrize("from_seq", [1, 2, 17, 30, 56, 57])
def test_reader_from_seq_across_segments(tmp_path: Path, from_seq: int) -> None:
    write_journal(tmp_path, RECORDS, batch=3, segment_bytes=500)
    assert list(read_records(tmp_path, from_seq)) == RECORDS[from_seq - 1 :]


def test_reading_past_the_end_is_an_error(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:5])
    with pytest.raises(JournalError, match="ends at seq 5; cannot read from seq 7"):
        list(read_records(tmp_path, 7))


def test_empty_journal_reads_nothing_from_the_start(tmp_path: Path) -> None:
    assert list(read_records(tmp_path)) == []
    with pytest.raises(JournalError, match="cannot read from seq 3"):
        list(read_records(tmp_path, 3))


def test_writer_reopens_where_the_journal_ends(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:20], batch=4, segment_bytes=700)
    with JournalWriter(tmp_path, segment_bytes=700) as writer:
        assert (writer.last_seq, writer.last_ts) == RECORDS[19][:2]
        with pytest.raises(JournalError, match="do not follow seq 20"):
            writer.append(RECORDS[21:23])
        writer.append(RECORDS[20:])
        writer.sync()
        assert writer.syncs == 1
    assert list(read_records(tmp_path)) == RECORDS


def test_one_sync_covers_a_whole_append(tmp_path: Path) -> None:
    with JournalWriter(tmp_path) as writer:
        writer.append(RECORDS)
        writer.sync()
        assert writer.syncs == 1


TAILS: dict[str, Callable[[bytes], bytes]] = {
    "incomplete frame header": lambda frame: frame[:5],
    "bytes cut short": lambda frame: frame[:-3],
    "bad CRC on the final frame": lambda frame: frame[:-1] + bytes([frame[-1] ^ 1]),
    "zero-filled tail": lambda frame: bytes(len(frame)),
}


@pytest.mark.parametrize("reason", TAILS)
def test_torn_tail_is_truncated_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reason: str
) -> None:
    path = one_segment(tmp_path)
    good_size = path.stat().st_size
    frame = bytearray()
    encode_frames(RECORDS[10:11], frame)
    with path.open("ab") as handle:
        handle.write(TAILS[reason](bytes(frame)))
    with caplog.at_level(logging.WARNING, logger="wcx.journal"):
        writer = JournalWriter(tmp_path)
    writer.close()
    assert path.stat().st_size == good_size
    assert writer.last_seq == 10
    assert f"truncated torn tail at byte offset {good_size}" in caplog.text
    assert reason in caplog.text
    assert list(read_records(tmp_path)) == RECORDS[:10]


def test_reading_without_repair_leaves_a_torn_tail_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = one_segment(tmp_path)
    with path.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00garbage")
    torn_size = path.stat().st_size
    with caplog.at_level(logging.WARNING, logger="wcx.journal"):
        assert list(read_records(tmp_path)) == RECORDS[:10]
    assert path.stat().st_size == torn_size
    assert "ignoring torn tail" in caplog.text
    assert list(read_records(tmp_path, repair=True)) == RECORDS[:10]
    assert path.stat().st_size < torn_size


def test_bad_crc_in_the_middle_names_segment_and_offset(tmp_path: Path) -> None:
    path = one_segment(tmp_path)
    offset = frame_offsets(path)[4]
    flip_byte(path, offset + FRAME_HEADER.size + 2)
    expected = re.escape(f"{path}: bad CRC at byte offset {offset}")
    with pytest.raises(JournalCorruption, match=expected):
        list(read_records(tmp_path))
    with pytest.raises(JournalCorruption, match=expected):
        JournalWriter(tmp_path)


def test_impossible_length_in_the_middle_is_corruption(tmp_path: Path) -> None:
    path = one_segment(tmp_path)
    offset = frame_offsets(path)[3]
    flip_byte(path, offset + 3)
    pattern = re.escape(f"{path}: impossible frame length ") + rf"\d+ at byte offset {offset}$"
    with pytest.raises(JournalCorruption, match=pattern):
        list(read_records(tmp_path, repair=True))


def test_length_running_past_the_end_of_a_non_last_segment_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=5, segment_bytes=800)
    first = list_segments(tmp_path)[0][1]
    offset = frame_offsets(first)[-1]
    data = first.read_bytes()
    first.write_bytes(data[:-4])
    with pytest.raises(JournalCorruption, match=re.escape(f"{first}: frame of")) as caught:
        list(read_records(tmp_path, repair=True))
    assert f"not the last at byte offset {offset}" in str(caught.value)
    assert first.stat().st_size == len(data) - 4


def test_bad_crc_on_the_final_frame_of_a_non_last_segment_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=5, segment_bytes=800)
    first = list_segments(tmp_path)[0][1]
    flip_byte(first, first.stat().st_size - 1)
    with pytest.raises(
        JournalCorruption, match="bad CRC on the final frame in a segment that is not the last"
    ):
        list(read_records(tmp_path))


def test_missing_segment_is_a_gap(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS, batch=5, segment_bytes=800)
    segments = list_segments(tmp_path)
    segments[1][1].unlink()
    with pytest.raises(JournalCorruption, match=re.escape(f"{segments[2][1]}: segment starts at seq")):
        list(read_records(tmp_path))


def test_seq_discontinuity_inside_a_segment_names_the_frame(tmp_path: Path) -> None:
    records = [*RECORDS[:2], (4, *RECORDS[3][1:])]
    frames = bytearray(encode_segment_header(1))
    encode_frames(records, frames)
    path = segment_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(frames))
    offset = frame_offsets(path)[2]
    with pytest.raises(
        JournalCorruption, match=re.escape(f"record has seq 4, expected 3 at byte offset {offset}")
    ):
        list(read_records(tmp_path))


def test_header_seq_must_match_the_file_name(tmp_path: Path) -> None:
    path = one_segment(tmp_path)
    path.write_bytes(encode_segment_header(5) + path.read_bytes()[SEGMENT_HEADER.size :])
    with pytest.raises(JournalCorruption, match="header says first seq 5 but the file name says 1"):
        list(read_records(tmp_path))


def test_unknown_segment_version_stops_reading(tmp_path: Path) -> None:
    path = one_segment(tmp_path)
    path.write_bytes(SEGMENT_HEADER.pack(MAGIC, 2, 1) + path.read_bytes()[SEGMENT_HEADER.size :])
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        JournalWriter(tmp_path)


def test_bad_magic_stops_reading(tmp_path: Path) -> None:
    path = one_segment(tmp_path)
    flip_byte(path, 0)
    with pytest.raises(JournalCorruption, match="bad magic"):
        list(read_records(tmp_path))


def test_torn_header_of_the_last_segment_is_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_journal(tmp_path, RECORDS[:12], batch=4, segment_bytes=1 << 20)
    torn = segment_path(tmp_path, 13)
    torn.write_bytes(encode_segment_header(13)[:7])
    with caplog.at_level(logging.WARNING, logger="wcx.journal"), JournalWriter(tmp_path) as writer:
        assert (writer.last_seq, writer.last_ts) == RECORDS[11][:2]
        writer.append(RECORDS[12:14])
        writer.sync()
    assert not torn.exists()
    assert "removed segment with a torn header" in caplog.text
    assert list(read_records(tmp_path)) == RECORDS[:14]


def test_empty_last_segment_keeps_the_previous_timestamp(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:12], batch=4, segment_bytes=1 << 20)
    segment_path(tmp_path, 13).write_bytes(encode_segment_header(13))
    with JournalWriter(tmp_path) as writer:
        assert (writer.last_seq, writer.last_ts) == RECORDS[11][:2]
        writer.append(RECORDS[12:])
        writer.sync()
    assert [first for first, _ in list_segments(tmp_path)] == [1, 13]
    assert list(read_records(tmp_path)) == RECORDS


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Decode 4 records per call so a short journal spans several chunks."""
    monkeypatch.setattr(log, "DECODE_CHUNK", 4)
    return 4


@pytest.mark.parametrize("from_seq", [1, 3, 4, 5, 9, len(RECORDS)])
def test_chunked_reading_keeps_every_record_in_order(
    tmp_path: Path, small_chunks: int, from_seq: int
) -> None:
    write_journal(tmp_path, RECORDS, segment_bytes=1 << 20)
    batches = list(log.read_record_batches(tmp_path, from_seq))
    assert all(0 < len(batch) <= small_chunks for batch in batches)
    assert [r for batch in batches for r in batch] == RECORDS[from_seq - 1 :]


def test_an_undecodable_record_inside_a_chunk_is_named_by_its_own_offset(
    tmp_path: Path, small_chunks: int
) -> None:
    # A payload with a valid CRC that is not a record (as a codec bug would write) must not be
    # blamed on the chunk: the error names that frame.
    frames = bytearray(encode_segment_header(1))
    encode_frames(RECORDS[:5], frames)
    payload = b'[6,6000,["no-such-command"]]'
    frames += FRAME_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    encode_frames([(7, *RECORDS[6][1:])], frames)
    path = segment_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(frames))
    offset = frame_offsets(path)[5]
    with pytest.raises(JournalCorruption, match=re.escape(f"at byte offset {offset}")):
        list(read_records(tmp_path))
