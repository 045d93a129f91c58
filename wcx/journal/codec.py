"""Versioned binary codec of the journal: segment headers, frames and records.

A record is `(seq, ts, command)`: a msgspec JSON array whose third element is the tagged
`Command` struct, so it decodes back to the right command type. JSON rather than msgpack
because amounts are unbounded ints (10 million ETH is 10**25 wei) and msgpack stops at 2**64;
msgspec encodes and decodes it as fast as msgpack for these small records. On disk every record is
one frame: u32 payload length, u32 CRC32 of the payload (both little-endian), payload.
A segment file starts with a header: magic, codec version, the seq of its first record.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import msgspec

from wcx.engine import Command

MAGIC = b"WCXJ"
CODEC_VERSION = 1
SEGMENT_HEADER = struct.Struct("<4sIQ")
FRAME_HEADER = struct.Struct("<II")
# Commands are small; a length above this can only come from corruption, never from a torn write.
MAX_PAYLOAD = 1 << 20

Record = tuple[int, int, Command]

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Record] = msgspec.json.Decoder(Record)
_list_decoder: msgspec.json.Decoder[list[Record]] = msgspec.json.Decoder(list[Record])


class JournalError(Exception):
    """Base of every journal failure."""


class JournalCorruption(JournalError):  # noqa: N818 - the documented name of this error
    """The journal cannot be trusted at a named place; start-up must stop."""


class UnsupportedVersionError(JournalError):
    """A file was written by a codec version this code does not know."""


def encode_record(record: Record) -> bytes:
    """The encoded payload of one record."""
    return _encoder.encode(record)


def decode_record(payload: bytes | memoryview) -> Record:
    """Inverse of `encode_record` (raises msgspec errors on bad input)."""
    return _decoder.decode(payload)


def decode_records(payloads: list[memoryview]) -> list[Record]:
    """Decode many payloads in one call (one JSON array), for replay speed; raises like `decode_record`."""
    return _list_decoder.decode(b"[" + b",".join(payloads) + b"]")


def encode_frames(records: Iterable[Record], out: bytearray) -> None:
    """Append one frame per record to `out`."""
    encode, pack, crc32 = _encoder.encode, FRAME_HEADER.pack, zlib.crc32
    for record in records:
        payload = encode(record)
        if len(payload) > MAX_PAYLOAD:
            raise JournalError(f"record seq {record[0]} encodes to {len(payload)} bytes > {MAX_PAYLOAD}")
        out += pack(len(payload), crc32(payload))
        out += payload


def encode_segment_header(first_seq: int) -> bytes:
    """The header of a segment whose first record has seq `first_seq`."""
    return SEGMENT_HEADER.pack(MAGIC, CODEC_VERSION, first_seq)


def decode_segment_header(path: Path, data: bytes) -> int:
    """Validate a complete segment header and return its first seq."""
    magic, version, first_seq = SEGMENT_HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise JournalCorruption(f"{path}: bad magic {magic!r} at byte offset 0, not a wcx journal segment")
    if version != CODEC_VERSION:
        raise UnsupportedVersionError(
            f"{path}: journal codec version {version}, this build reads version {CODEC_VERSION}"
        )
    return int(first_seq)
