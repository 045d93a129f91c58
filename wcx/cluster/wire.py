"""What travels over NATS: log batches, submit requests and replies, the lease, snapshot objects.

All msgspec JSON (amounts are unbounded ints; msgpack stops at 2**64), commands and events as the
engine's tagged structs so they decode back to their own types.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from wcx.engine import Command, Event
from wcx.journal import Record


def _concrete(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        if sub.__struct_config__.tag is not None and not sub.__name__.startswith("_"):
            found.append(sub)
        found += _concrete(sub)
    return found


AnyEvent: Any = Union[tuple(_concrete(Event))]  # noqa: UP007 - built at run time from the subclasses


class LogBatch(msgspec.Struct, frozen=True, array_like=True):
    """One message of the command log: a leader's group commit, or (no records) its term marker.

    `ids[i]` is the client command id of `records[i]` ("" when the command came without one).
    """

    term: int
    node: str
    records: list[tuple[int, int, Command]]
    ids: list[str]


class SubmitRequest(msgspec.Struct, frozen=True, array_like=True):
    """Commands a gateway asks the leader to sequence, in order, each with a unique command id."""

    ids: list[str]
    commands: list[Command]


class SubmitReply(msgspec.Struct, frozen=True, array_like=True):
    """The leader's answer: the durable seq the commands reached and their events; or an error."""

    seq: int = 0
    events: list[list[AnyEvent]] = []
    error: str = ""


class LeaseValue(msgspec.Struct, frozen=True):
    """The lease entry: who leads and where it takes commands (the entry's revision is the term)."""

    node: str
    submit: str


class SnapshotMeta(msgspec.Struct, frozen=True, array_like=True):
    """Header of a snapshot object: the engine seq it is at and the log position right after it."""

    seq: int
    stream_seq: int
    state_hash: str
    dedup: list[tuple[str, int, list[AnyEvent]]]


class NodeStatus(msgspec.Struct, frozen=True):
    """What an engine node answers on its status subject."""

    node: str
    role: str
    term: int
    seq: int
    stream_seq: int
    state_hash: str


_encoder = msgspec.json.Encoder()
encode = _encoder.encode
_batch = msgspec.json.Decoder(LogBatch)
_request = msgspec.json.Decoder(SubmitRequest)
_reply = msgspec.json.Decoder(SubmitReply)
_lease = msgspec.json.Decoder(LeaseValue)
_meta = msgspec.json.Decoder(SnapshotMeta)
_status = msgspec.json.Decoder(NodeStatus)
_events = msgspec.json.Decoder(list[AnyEvent])


def decode_batch(data: bytes) -> LogBatch:
    """A log message's batch."""
    return _batch.decode(data)


def decode_request(data: bytes) -> SubmitRequest:
    """A gateway's submit request."""
    return _request.decode(data)


def decode_reply(data: bytes) -> SubmitReply:
    """The leader's submit reply."""
    return _reply.decode(data)


def decode_lease(data: bytes) -> LeaseValue:
    """The lease entry's value."""
    return _lease.decode(data)


def decode_status(data: bytes) -> NodeStatus:
    """An engine node's status answer."""
    return _status.decode(data)


def decode_events(data: bytes) -> list[Event]:
    """A list of events published on an events subject."""
    events: list[Event] = _events.decode(data)
    return events


def encode_snapshot(meta: SnapshotMeta, state: bytes) -> bytes:
    """Snapshot object body: u32 meta length, meta JSON, engine snapshot bytes."""
    head = encode(meta)
    return len(head).to_bytes(4, "little") + head + state


def decode_snapshot(data: bytes) -> tuple[SnapshotMeta, bytes]:
    """Inverse of `encode_snapshot`."""
    size = int.from_bytes(data[:4], "little")
    return _meta.decode(data[4 : 4 + size]), data[4 + size :]


def records_of(batch: LogBatch) -> list[Record]:
    """The batch's records as journal records."""
    return [(seq, ts, command) for seq, ts, command in batch.records]
