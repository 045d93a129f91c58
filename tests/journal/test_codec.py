"""The record codec and segment header: every command type survives, versions are checked."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from wcx.engine import Command
from wcx.journal import JournalCorruption, UnsupportedVersionError, decode_record, encode_record
from wcx.journal.codec import MAGIC, SEGMENT_HEADER, decode_segment_header, encode_segment_header

from .conftest import EVERY_COMMAND, records_of


def test_the_samples_cover_every_command_type() -> None:
    assert {type(c) for c in EVERY_COMMAND} == set(typing.get_args(Command))


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: type(c).__name__)
def test_every_command_type_roundtrips_with_its_type(command: Command) -> None:
    record = (12, 1_700_000_000_123_456_789, command)
    decoded = decode_record(encode_record(record))
    assert decoded == record
    assert type(decoded[2]) is type(command)


def test_amounts_beyond_64_bits_roundtrip() -> None:
    (record,) = records_of([EVERY_COMMAND[5]])
    assert decode_record(encode_record(record))[2] == EVERY_COMMAND[5]


def test_segment_header_roundtrip() -> None:
    assert decode_segment_header(Path("x.wal"), encode_segment_header(42)) == 42


def test_bad_magic_is_corruption() -> None:
    with pytest.raises(JournalCorruption, match=r"x\.wal: bad magic .* byte offset 0"):
        decode_segment_header(Path("x.wal"), SEGMENT_HEADER.pack(b"NOPE", 1, 1))


def test_unknown_version_is_a_clear_error() -> None:
    with pytest.raises(
        UnsupportedVersionError, match=r"x\.wal: journal codec version 99, this build reads version 1"
    ):
        decode_segment_header(Path("x.wal"), SEGMENT_HEADER.pack(MAGIC, 99, 1))
