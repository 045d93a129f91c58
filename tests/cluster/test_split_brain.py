"""Split brain and NATS node loss, with real processes under load.

A leader paused (SIGSTOP) past its lease is replaced; resumed (SIGCONT) it cannot append — the log
after the new term marker holds only the new term — and it exits as deposed. On a three-node NATS
cluster with the log at R3, killing one NATS server under load loses nothing acknowledged.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from wcx.cli.serve import DEPOSED_EXIT
from wcx.cluster.localnats import LocalNats

from .processes import (
    Load,
    Proc,
    check_log,
    replay,
    sign_up,
    start_cluster,
    status,
    stream_leader,
    wait_role,
)


@pytest.fixture
def stopper() -> Iterator[list[Proc]]:
    """Processes to stop after the test, whatever happened."""
    procs: list[Proc] = []
    yield procs
    for proc in procs:
        proc.stop()


def test_a_paused_leader_that_lost_its_lease_cannot_append(
    nats_server: LocalNats,
    postgres_database: str,
    tmp_path: Path,
    stopper: list[Proc],
) -> None:
    """SIGSTOP the leader past its lease under load; b leads; SIGCONT: a cannot append and exits."""
    procs = start_cluster(nats_server.url, postgres_database, tmp_path, {})
    stopper += procs.values()
    a, b = procs["a"], procs["b"]
    term_a = wait_role(nats_server.url, "a", "leader").term
    gateways = [procs["g1"], procs["g2"]]
    tokens = [sign_up(gateways[i % 2], f"brain{i}@cluster.test") for i in range(4)]
    with Load(gateways, tokens) as load:
        load.wait_for(100)
        a.signal(signal.SIGSTOP)  # mid-load: a holds requests and maybe a batch it has not appended
        term_b = wait_role(nats_server.url, "b", "leader", timeout=15).term
        assert term_b > term_a
        before = load.count()
        load.wait_for(before + 100)
        a.signal(signal.SIGCONT)
        assert a.process is not None
        assert a.process.wait(timeout=15) == DEPOSED_EXIT, a.tail()
        resumed = load.count()
        load.wait_for(resumed + 50)
    assert "stops" in a.tail() and b.alive()
    _, _, batches = replay(nats_server.url)
    marker = next(i for i, batch in enumerate(batches) if batch.term == term_b)
    assert not batches[marker].records and batches[marker].node == "b"
    assert {batch.node for batch in batches[marker:]} == {"b"}, "the deposed leader appended after b's marker"
    check_log(nats_server.url, load.acknowledged, "b")


def test_losing_one_of_three_nats_servers_loses_nothing_acknowledged(
    nats_cluster: LocalNats,
    postgres_database: str,
    tmp_path: Path,
    stopper: list[Proc],
) -> None:
    """Log, lease and snapshots at R3 on three routed servers; SIGKILL one server under load."""
    procs = start_cluster(nats_cluster.url, postgres_database, tmp_path, {"LOG_REPLICAS": "3"})
    stopper += procs.values()
    gateways = [procs["g1"], procs["g2"]]
    tokens = [sign_up(gateways[i % 2], f"r3-{i}@cluster.test") for i in range(4)]
    with Load(gateways, tokens) as load:
        load.wait_for(100)
        # The server leading the log's raft group: its loss forces a stream leader election.
        leader = stream_leader(nats_cluster.url)
        victim = next(node for node in nats_cluster.nodes if node.name == leader)
        victim.kill()
        before = load.count()
        load.wait_for(before + 150)
    assert load.count() >= before + 150, (load.count(), load.failed)
    alive = next(node for node in nats_cluster.nodes if node is not victim).url
    assert stream_leader(alive) != victim.name
    leading = next(n for n in ("a", "b") if (s := status(alive, n)) and s.role == "leader")
    check_log(alive, load.acknowledged, leading)
