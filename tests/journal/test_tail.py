"""Following a journal while it is written: incremental, across segments, never past the durable seq."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcx.journal import JournalCorruption, JournalError, JournalTail, JournalWriter, list_segments
from wcx.journal.codec import FRAME_HEADER, SEGMENT_HEADER, encode_frames

from .conftest import EVERY_COMMAND, records_of, trading_stream, write_journal

RECORDS = records_of(trading_stream(600))


def test_reads_what_was_appended_between_calls_across_segment_rolls(tmp_path: Path) -> None:
    seen = []
    with JournalWriter(tmp_path, segment_bytes=4096) as writer, closing(JournalTail(tmp_path)) as tail:
        for start in range(0, len(RECORDS), 37):
            writer.append(RECORDS[start : start + 37])
            writer.sync()
            while batch := tail.read(writer.last_seq, limit=50):
                assert len(batch) <= 50
                seen += batch
    assert len(list_segments(tmp_path)) > 5
    assert seen == RECORDS


def test_never_reads_past_the_durable_seq(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:10], segment_bytes=1 << 20)
    (_, path), *_ = list_segments(tmp_path)
    frame = bytearray()
    encode_frames(RECORDS[10:11], frame)
    with path.open("ab") as segment:
        segment.write(frame[:7])  # the writer is in the middle of the next frame
    with closing(JournalTail(tmp_path)) as tail:
        assert tail.read(10) == RECORDS[:10]
        assert tail.read(10) == []
        with path.open("ab") as segment:
            segment.write(frame[7:])
        assert tail.read(11) == RECORDS[10:11]


@settings(max_examples=25, deadline=None)
@given(start=st.integers(1, len(RECORDS)), segment_bytes=st.sampled_from([2048, 4096, 1 << 20]))
def test_starts_at_any_seq(tmp_path_factory: pytest.TempPathFactory, start: int, segment_bytes: int) -> None:
    folder = tmp_path_factory.mktemp("journal")
    write_journal(folder, RECORDS, segment_bytes=segment_bytes)
    with closing(JournalTail(folder, start)) as tail:
        got = []
        while batch := tail.read(len(RECORDS), limit=100):
            got += batch
    assert got == RECORDS[start - 1 :]


def test_a_durable_frame_cut_short_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, records_of(EVERY_COMMAND), segment_bytes=1 << 20)
    (_, path), *_ = list_segments(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with closing(JournalTail(tmp_path)) as tail, pytest.raises(JournalCorruption, match="cut short"):
        tail.read(len(EVERY_COMMAND))


def test_a_bad_crc_is_corruption_naming_the_segment(tmp_path: Path) -> None:
    write_journal(tmp_path, records_of(EVERY_COMMAND), segment_bytes=1 << 20)
    (_, path), *_ = list_segments(tmp_path)
    data = bytearray(path.read_bytes())
    data[SEGMENT_HEADER.size + FRAME_HEADER.size + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with closing(JournalTail(tmp_path)) as tail, pytest.raises(JournalCorruption, match=path.name):
        tail.read(len(EVERY_COMMAND))


def test_a_missing_next_segment_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, RECORDS[:200], segment_bytes=4096)
    segments = list_segments(tmp_path)
    segments[1][1].unlink()
    with closing(JournalTail(tmp_path)) as tail, pytest.raises(JournalCorruption, match="no segment starts"):
        while tail.read(200):
            pass


def test_a_seq_before_the_journal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no segment"):
        JournalTail(tmp_path, 1).read(5)
