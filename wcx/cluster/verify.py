"""Check a running cluster against its log: a clean replay of the stream from its first message, the
state hash of every engine node and every stored snapshot compared with the replay at their seq.

Read-only and safe on a live exchange: nodes answer status requests, the log is read with an
ephemeral ordered consumer, snapshots are read from the object store.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import msgspec
import nats.errors
from nats.aio.client import Client as NatsClient

from wcx.cluster import wire
from wcx.cluster.log import connect, last_stream_seq, read_batches, snapshot_bucket
from wcx.cluster.settings import ClusterSettings
from wcx.cluster.snapshots import SnapshotStore
from wcx.engine import Engine

STATUS_WAIT_S = 0.5
CATCH_UP_S = 10.0


@dataclass
class ClusterVerdict:
    """What `verify_cluster` found: the replay's end, each node's and snapshot's comparison, problems."""

    seq: int = 0
    stream_seq: int = 0
    state_hash: str = ""
    nodes: list[dict[str, object]] = field(default_factory=list)
    snapshots: list[dict[str, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything agreed."""
        return not self.problems


async def node_statuses(nc: NatsClient, settings: ClusterSettings) -> list[wire.NodeStatus]:
    """Every engine node that answers within STATUS_WAIT_S, sorted by node id."""
    inbox = f"_INBOX.{uuid.uuid4().hex}"
    found: list[wire.NodeStatus] = []
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(settings.status_all_subject, b"", reply=inbox)
        deadline = time.monotonic() + STATUS_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            found.append(wire.decode_status(msg.data))
    finally:
        await sub.unsubscribe()
    return sorted(found, key=lambda status: status.node)


async def verify_cluster(settings: ClusterSettings) -> ClusterVerdict:
    """Replay the whole log and compare every node and snapshot with it."""
    verdict = ClusterVerdict()
    nc = await connect(settings, name="wcx-cluster-verify")
    try:
        js = nc.jetstream(timeout=settings.publish_timeout_s)
        statuses = await node_statuses(nc, settings)
        snapshots = SnapshotStore(await snapshot_bucket(js, settings), keep=settings.snapshot_keep)
        snapshot_seqs = await snapshots.seqs()
        wanted = {status.seq for status in statuses} | set(snapshot_seqs)
        engine, hashes, term = Engine(), {0: Engine().state_hash()}, 0
        deadline = time.monotonic() + CATCH_UP_S
        while True:
            end = await last_stream_seq(js, settings)
            for stream_seq, batch in await read_batches(js, settings, verdict.stream_seq, end):
                if batch.term < term:
                    verdict.problems.append(f"stream seq {stream_seq}: term {batch.term} after {term}")
                term = max(term, batch.term)
                for seq, ts, command in batch.records:
                    engine.apply(seq, ts, command)  # raises SequenceError on a gap or a repeat
                if engine.state.last_seq in wanted:
                    hashes[engine.state.last_seq] = engine.state_hash()
                verdict.stream_seq = stream_seq
            # A leader applies a batch before JetStream acknowledges it: wait for what nodes report.
            if all(status.seq in hashes for status in statuses) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
        verdict.seq, verdict.state_hash = engine.state.last_seq, engine.state_hash()
        for status in statuses:
            expected = hashes.get(status.seq)
            agrees = expected == status.state_hash
            verdict.nodes.append(msgspec.structs.asdict(status) | {"agrees": agrees})
            if not agrees:
                verdict.problems.append(f"node {status.node} at seq {status.seq} disagrees with the replay")
        for seq in snapshot_seqs:
            found = await snapshots.load(at_most=seq)
            agrees = found is not None and found[0].seq == seq and found[0].state_hash == hashes.get(seq)
            verdict.snapshots.append({"seq": seq, "agrees": agrees})
            if not agrees:
                verdict.problems.append(f"snapshot at seq {seq} disagrees with the replay (or is unreadable)")
        if not statuses:
            verdict.problems.append("no engine node answered")
    finally:
        await nc.close()
    return verdict
