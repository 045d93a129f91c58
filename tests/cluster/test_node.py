"""Engine nodes on a real JetStream server: election, identical replicas, dedup, fencing, snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from wcx.bootstrap import setup_commands
from wcx.cluster import ClusterPort, EngineNode, wire
from wcx.cluster.localnats import LocalNats
from wcx.cluster.log import FencedError, last_stream_seq, publish_batch, read_batches
from wcx.cluster.verify import verify_cluster
from wcx.config.markets import load_reference_data
from wcx.engine import CreditDeposit, Engine, Event
from wcx.engine.events import OrderFilled
from wcx.simulator.flow import OrderFlow

from .conftest import cluster_settings

DATA = load_reference_data()


def bootstrap() -> list[Any]:
    """The reference data a fresh log starts with."""
    return setup_commands(DATA)


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `check` until true."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def started(url: str, node_id: str, **overrides: Any) -> EngineNode:
    """A started engine node."""
    node = EngineNode(cluster_settings(url, node_id, **overrides), bootstrap=bootstrap)
    await node.start()
    return node


def replay_log(url: str, **overrides: Any) -> Awaitable[Engine]:
    """A clean engine rebuilt from every record of the log (no snapshot)."""

    async def run() -> Engine:
        settings = cluster_settings(url, "replayer", **overrides)
        nc = await nats.connect(url.split(",", maxsplit=1)[0])
        try:
            js = nc.jetstream()
            engine = Engine()
            end = await last_stream_seq(js, settings)
            for _, batch in await read_batches(js, settings, 0, end):
                for seq, ts, command in batch.records:
                    engine.apply(seq, ts, command)
            return engine
        finally:
            await nc.close()

    return run()


def run(coroutine: Awaitable[None]) -> None:
    """Run one test coroutine on a fresh loop."""
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_one_leader_and_followers_keep_the_leaders_state_hash(nats_server: LocalNats) -> None:
    """Orders through a gateway port; both followers and the gateway replica match the leader and a replay."""

    async def main() -> None:
        a = await started(nats_server.url, "a")
        await until(lambda: a.is_leader, what="a leads")
        b = await started(nats_server.url, "b")
        c = await started(nats_server.url, "c")
        port = ClusterPort(cluster_settings(nats_server.url, "gw"))
        await port.start()
        listener = await nats.connect(nats_server.url)
        published: dict[str, list[Event]] = {}

        async def collect(msg: Msg) -> None:
            published.setdefault(msg.subject, []).extend(wire.decode_events(msg.data))

        await listener.subscribe("t.events.>", cb=collect)
        try:
            assert [b.role, c.role] == ["follower", "follower"]
            flow = OrderFlow(DATA, list(DATA.markets), accounts=6, seed=3)
            await port.submit_many(flow.funding())
            results = await asyncio.gather(*(port.submit(command) for command in flow.commands(400)))
            assert len(results) == 400
            fills = [e for events in results for e in events if isinstance(e, OrderFilled)]
            assert fills
            await until(lambda: len(published.get(f"t.events.market.{fills[-1].symbol}", [])) > 0)
            await listener.flush()
            await asyncio.sleep(0.2)
            for fill in fills:  # each trade on its market's subject and on both accounts'
                for subject in (f"market.{fill.symbol}", f"account.{fill.maker_account}",
                                f"account.{fill.taker_account}"):  # fmt: skip
                    assert fill in published[f"t.events.{subject}"]
            seq = a.engine.state.last_seq
            assert port.engine.state.last_seq == seq  # read-your-writes on the gateway replica
            await until(lambda: b.engine.state.last_seq == seq == c.engine.state.last_seq)
            hashes = {n.engine.state_hash() for n in (a, b, c)} | {port.engine.state_hash()}
            assert len(hashes) == 1
            assert (await replay_log(nats_server.url)).state_hash() == a.engine.state_hash()
        finally:
            await listener.close()
            await port.stop()
            for node in (c, b, a):
                await node.stop()

    run(main())


def test_takeover_after_the_leader_stops_and_retries_apply_once(nats_server: LocalNats) -> None:
    """A follower leads after the leader leaves; a command retried with its id is answered, not re-applied."""

    async def main() -> None:
        a = await started(nats_server.url, "a")
        await until(lambda: a.is_leader)
        b = await started(nats_server.url, "b")
        port = ClusterPort(cluster_settings(nats_server.url, "gw"))
        await port.start()
        try:
            deposit = CreditDeposit(42, "USDT", 5_000_000, "dep-1")
            first = await a.submit([deposit], ["cmd-1"])
            await until(lambda: b.engine.state.last_seq == a.engine.state.last_seq)
            await a.stop()
            await until(lambda: b.is_leader, timeout=5)
            assert b.term > a.term
            again = await b.submit([deposit], ["cmd-1"])
            assert again.events == first.events and again.seq == first.seq
            assert b.engine.state.balance(42, "USDT") == (5_000_000, 0)
            await port.submit(CreditDeposit(42, "USDT", 1, "dep-2"))  # the gateway finds the new leader
            assert port.engine.state.balance(42, "USDT") == (5_000_001, 0)
            assert (await replay_log(nats_server.url)).state_hash() == b.engine.state_hash()
        finally:
            await port.stop()
            await b.stop()

    run(main())


def test_an_append_after_a_stale_position_is_fenced(nats_server: LocalNats) -> None:
    """A leader that did not see the newest message cannot append (Nats-Expected-Last-Sequence)."""

    async def main() -> None:
        a = await started(nats_server.url, "a")
        await until(lambda: a.is_leader)
        try:
            settings = cluster_settings(nats_server.url, "old")
            js = a.nc.jetstream()
            end = await last_stream_seq(js, settings)
            stale = wire.LogBatch(1, "old", [(10**6, 0, CreditDeposit(1, "USDT", 1, "x"))], [""])
            with pytest.raises(FencedError):
                await publish_batch(js, settings, stale, end - 1, "old.1")
            assert await last_stream_seq(js, settings) == end
        finally:
            await a.stop()

    run(main())


def test_a_new_follower_starts_from_the_object_store_snapshot(nats_server: LocalNats) -> None:
    """Snapshots land in the object store; a late node restores one and replays only the tail."""

    async def main() -> None:
        a = await started(nats_server.url, "a", snapshot_every=50)
        await until(lambda: a.is_leader)
        try:
            flow = OrderFlow(DATA, list(DATA.markets), accounts=4, seed=5)
            await a.submit(flow.funding(), [""] * len(flow.funding()))
            for command in flow.commands(300):
                await a.submit([command], [""])
            snapshots = a._snapshots
            assert snapshots is not None
            stored = await snapshots.seqs()
            assert stored and len(stored) <= a.settings.snapshot_keep
            late = await started(nats_server.url, "late")
            try:
                found = await snapshots.load()
                assert found is not None and found[0].seq == stored[-1]
                assert late.replica.snapshot_seq == stored[-1] > 0
                await until(lambda: late.engine.state.last_seq == a.engine.state.last_seq)
                assert late.engine.state_hash() == a.engine.state_hash()
                verdict = await verify_cluster(a.settings)
                assert verdict.ok, verdict.problems
                assert {n["node"] for n in verdict.nodes} == {"a", "late"}
                assert [s["seq"] for s in verdict.snapshots] == stored
                assert (verdict.seq, verdict.state_hash) == (a.engine.state.last_seq, a.engine.state_hash())
                # A snapshot whose content does not match its claimed hash is reported, never trusted.
                seq = a.engine.state.last_seq
                await snapshots.put(wire.SnapshotMeta(seq, 1, "0" * 64, []), a.engine.snapshot())
                bad = await verify_cluster(a.settings)
                assert not bad.ok and any(f"snapshot at seq {seq}" in p for p in bad.problems)
            finally:
                await late.stop()
        finally:
            await a.stop()

    run(main())
