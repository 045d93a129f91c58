"""Black-box failover: leader + follower engines, two gateways, orders through both, kill -9 the leader.

Every acknowledged order exists exactly once (in a clean replay of the log and in SQL, projected by
the new leader from its checkpoint), and the new leader's state hash equals that replay's.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from wcx.cluster.localnats import LocalNats
from wcx.engine.events import OrderAccepted

from .processes import Load, Proc, check_log, sign_up, sql_orders, start_cluster, wait_role

USERS = 4


@pytest.fixture
def cluster(nats_server: LocalNats, postgres_database: str, tmp_path: Path) -> Iterator[dict[str, Proc]]:
    """Engine a (leader), engine b (follower), gateways g1 and g2: all real processes."""
    procs = start_cluster(nats_server.url, postgres_database, tmp_path, {})
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def test_kill_9_the_leader_under_load_loses_nothing_acknowledged(
    cluster: dict[str, Proc],
    nats_server: LocalNats,
    postgres_database: str,
) -> None:
    """Orders through both gateways; SIGKILL the leader; b leads; every acknowledged order exists once."""
    gateways = [cluster["g1"], cluster["g2"]]
    tokens = [sign_up(gateways[i % 2], f"trader{i}@cluster.test") for i in range(USERS)]
    with Load(gateways, tokens) as load:
        before = load.wait_for(150)
        projected_before, _ = sql_orders(postgres_database, [])
        killed_at = time.monotonic()
        cluster["a"].signal(signal.SIGKILL)
        took_over = wait_role(nats_server.url, "b", "leader", timeout=15)
        failover_s = time.monotonic() - killed_at
        load.wait_for(before + 150)
    after = load.count()
    assert failover_s < 10, failover_s
    assert took_over.term > 0

    events = check_log(nats_server.url, load.acknowledged, "b")
    ids = [order_id for _, _, order_id in load.acknowledged]
    deadline = time.monotonic() + 20
    while True:
        checkpoint, found = sql_orders(postgres_database, ids)
        if (
            checkpoint >= max(e.seq for e in events if isinstance(e, OrderAccepted))
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert found == Counter(ids), "SQL history lacks or repeats acknowledged orders"
    assert 0 < projected_before < checkpoint  # b's projector resumed from a's checkpoint
    print(f"acknowledged {after} orders ({load.failed} not), failover {failover_s:.2f}s")
