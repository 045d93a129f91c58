"""Real `wcx serve --role …` processes for the cluster tests, and what the tests ask NATS directly."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import nats.errors
from sqlalchemy.engine import make_url

from wcx.cluster import wire
from wcx.cluster.localnats import free_port
from wcx.cluster.log import last_stream_seq, read_batches
from wcx.cluster.settings import ClusterSettings
from wcx.engine import Engine, Event
from wcx.engine.events import OrderAccepted

from .conftest import FAST

START_TIMEOUT_S = 60.0
CLUSTER = "t"
PASSWORD = "correct horse battery"


@dataclass
class Proc:
    """One `wcx serve --role` process."""

    role: str
    name: str
    root: Path
    journal_url: str
    database_url: str
    extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The process's output."""
        return self.root / f"{self.name}.log"

    @property
    def url(self) -> str:
        """Base URL of a gateway."""
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The process environment: development secrets, fast lease timings, our NATS and database."""
        values = {
            **os.environ,
            "WCX_ENV": "development",
            "DATA_DIR": str(self.root / self.name),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": "",
            "JWT_SECRET": "cluster-jwt-secret-" + "j" * 32,
            "REFRESH_SECRET": "cluster-refresh-secret-" + "r" * 32,
            "LOG_LEVEL": "WARNING",
            "JOURNAL_URL": self.journal_url,
            "CLUSTER_NAME": CLUSTER,
            "NODE_ID": self.name,
            **{key.upper(): str(value) for key, value in FAST.items()},
            **self.extra,
        }
        return values

    def start(self) -> None:
        """Start the process (a gateway, or the ops endpoints of an engine or wallet, on a free port)."""
        command = [sys.executable, "-m", "wcx", "serve", "--role", self.role]
        if self.role != "admin":
            self.port = free_port()
            command += ["--port", str(self.port)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=self.env(), cwd=self.root, stdout=out, stderr=out)

    def wait_ready(self) -> None:
        """Until a gateway's /readyz answers 200."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.alive(), self.tail()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready\n{self.tail()}")

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal (SIGKILL waits for the process to be gone)."""
        assert self.process is not None
        self.process.send_signal(signum)
        if signum == signal.SIGKILL:
            self.process.wait()

    def stop(self) -> int | None:
        """SIGTERM (SIGCONT first, in case it is paused) and wait; its exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self) -> str:
        """The end of the output, for failure messages."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def settings_for(journal_url: str) -> ClusterSettings:
    """The tests' view of the cluster (names only; never a node)."""
    return ClusterSettings(journal_url=journal_url, cluster_name=CLUSTER, node_id="tester", **FAST)  # type: ignore[arg-type]


async def _status(journal_url: str, node: str) -> wire.NodeStatus | None:
    settings = settings_for(journal_url)
    nc = await nats.connect(settings.servers, connect_timeout=2, allow_reconnect=False)
    try:
        msg = await nc.request(settings.status_subject(node), b"", timeout=2)
        return wire.decode_status(msg.data)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return None
    finally:
        await nc.close()


def status(journal_url: str, node: str) -> wire.NodeStatus | None:
    """An engine node's status (None when it does not answer)."""
    return asyncio.run(_status(journal_url, node))


def wait_role(journal_url: str, node: str, role: str, timeout: float = 30.0) -> wire.NodeStatus:
    """Until the node reports `role`."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        seen = status(journal_url, node)
        if seen is not None and seen.role == role:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{node} is not {role}: {seen}")


async def _stream_leader(journal_url: str) -> str:
    settings = settings_for(journal_url)
    nc = await nats.connect(settings.servers, connect_timeout=2)
    try:
        info = await nc.jetstream().stream_info(settings.stream)
        assert info.cluster is not None and info.cluster.leader
        return str(info.cluster.leader)
    finally:
        await nc.close()


def stream_leader(journal_url: str) -> str:
    """The server name of the log stream's raft leader."""
    return asyncio.run(_stream_leader(journal_url))


async def _replay(journal_url: str) -> tuple[Engine, list[Event], list[wire.LogBatch]]:
    settings = settings_for(journal_url)
    nc = await nats.connect(settings.servers, connect_timeout=2)
    try:
        js = nc.jetstream()
        engine, events, batches = Engine(), [], []
        for _, batch in await read_batches(js, settings, 0, await last_stream_seq(js, settings)):
            batches.append(batch)
            for seq, ts, command in batch.records:
                events += engine.apply(seq, ts, command)
        return engine, events, batches
    finally:
        await nc.close()


def replay(journal_url: str) -> tuple[Engine, list[Event], list[wire.LogBatch]]:
    """A clean engine from the whole log (no snapshot), every event it produced, and the log's batches."""
    return asyncio.run(_replay(journal_url))


class Load:
    """Threads placing crossing limit orders through the gateways until stopped; acknowledged ones kept."""

    def __init__(self, gateways: list[Proc], tokens: list[tuple[int, str]]) -> None:
        self.gateways = gateways
        self.tokens = tokens
        self.acknowledged: list[tuple[int, str, int]] = []
        self.failed: Counter[int] = Counter()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(4)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, count: int, timeout: float = 90.0) -> int:
        """Until `count` orders were acknowledged (fails the test after `timeout`); how many there are."""
        deadline = time.monotonic() + timeout
        while (now := self.count()) < count:
            assert time.monotonic() < deadline, f"only {now} of {count} orders acknowledged: {self.failed}"
            time.sleep(0.05)
        return now

    def count(self) -> int:
        """Acknowledged orders so far."""
        with self._lock:
            return len(self.acknowledged)

    def _run(self, index: int) -> None:
        gateway = self.gateways[index % len(self.gateways)]
        user_id, token = self.tokens[index % len(self.tokens)]
        side = "buy" if index % 2 == 0 else "sell"
        with httpx.Client(
            base_url=gateway.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for n in itertools.count():
                if self.stop.is_set():
                    return
                client_order_id = f"t{index}-{n}"
                body = {
                    "symbol": "BTC-USDT",
                    "side": side,
                    "price": "65000",
                    "quantity": "0.001",
                    "client_order_id": client_order_id,
                }
                try:
                    response = http.post("/api/v1/orders", json=body)
                except httpx.TransportError:
                    self.failed[0] += 1
                    continue
                if response.status_code == 201:
                    with self._lock:
                        self.acknowledged.append((user_id, client_order_id, response.json()["order_id"]))
                else:
                    self.failed[response.status_code] += 1


def sign_up(gateway: Proc, email: str) -> tuple[int, str]:
    """Register, log in and fund a user through a gateway: (user id, access token)."""
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert (
            http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 202
        )
        token = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        for asset, amount in (("USDT", "10000000"), ("BTC", "100")):
            credit = http.post("/dev/credit", json={"email": email, "asset": asset, "amount": amount})
            assert credit.status_code == 200, credit.text
        account = http.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
        return account.json()["user_id"], token


async def _sql_orders_async(database_url: str, ids: list[int]) -> tuple[int, Counter[int]]:
    url = make_url(database_url)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        checkpoint = await connection.fetchval("SELECT seq FROM projector_checkpoints WHERE name = 'main'")
        rows = await connection.fetch("SELECT order_id FROM orders WHERE order_id = ANY($1::bigint[])", ids)
        return checkpoint, Counter(row["order_id"] for row in rows)
    finally:
        await connection.close()


def check_log(url: str, acknowledged: list[tuple[int, str, int]], leader: str) -> list[Event]:
    """Terms never go back, each acknowledged order was accepted once, the leader's hash is a replay's.

    Returns every event of the replay."""
    engine, events, batches = replay(url)
    terms = [batch.term for batch in batches]
    assert terms == sorted(terms)
    accepted: dict[tuple[int, str], list[int]] = {}
    for event in events:
        if isinstance(event, OrderAccepted):
            accepted.setdefault((event.account, event.client_order_id), []).append(event.order_id)
    for user_id, client_order_id, order_id in acknowledged:
        assert accepted.get((user_id, client_order_id)) == [order_id], (user_id, client_order_id)
    assert all(len(ids) == 1 for ids in accepted.values())
    deadline = time.monotonic() + 10
    while True:
        now = status(url, leader)
        assert now is not None
        if now.seq == engine.state.last_seq or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (now.seq, now.state_hash) == (engine.state.last_seq, engine.state_hash())
    return events


def sql_orders(database_url: str, ids: list[int]) -> tuple[int, Counter[int]]:
    """The projector's SQL checkpoint and how often each of `ids` is in the orders table."""
    return asyncio.run(_sql_orders_async(database_url, ids))


def start_cluster(url: str, database_url: str, root: Path, extra: dict[str, str]) -> dict[str, Proc]:
    """Engines a (leader) and b (follower), gateways g1 and g2, all started and ready."""
    procs: dict[str, Proc] = {}
    try:
        for role, name in (("engine", "a"), ("engine", "b"), ("gateway", "g1"), ("gateway", "g2")):
            proc = procs[name] = Proc(role, name, root, url, database_url, extra)
            proc.start()
            if name in ("a", "b"):
                wait_role(url, name, "leader" if name == "a" else "follower")
        for name in ("g1", "g2"):
            procs[name].wait_ready()
    except BaseException:
        for proc in procs.values():
            proc.stop()
        raise
    return procs
