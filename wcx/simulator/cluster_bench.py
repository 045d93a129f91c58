"""`wcx bench cluster`: order throughput through 1, 2 and 4 gateway processes on the JetStream log,
next to the single-process file journal, and the failover time after `kill -9` of the leader.

Each cluster run is a fresh fleet on this machine: a local JetStream nats-server, engine nodes `a`
(leader) and `b` (hot standby), N `wcx serve --role gateway` processes, one SQLite database file
shared by them (the projector writes it from the leader). Users, API keys and funds are provisioned
through the first gateway, then client processes (`wcx bench api`'s closed-loop order traffic:
placements and cancels, signed with HMAC keys) spread over the gateways. The baseline is
`wcx serve` in one process with its file journal, driven by the same clients.

Failover: a probe places orders one at a time through a gateway; the leader is killed with SIGKILL;
the figure is the time from the kill to the first order acknowledged (201) among those sent after
it — necessarily sequenced by the new leader. The lease TTL bounds it (`--lease-ttl`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors

from wcx.cluster import ClusterSettings, wire
from wcx.cluster.localnats import LocalNats, free_port
from wcx.simulator.api_bench import (
    PASSWORD,
    Credential,
    Job,
    ServerProcess,
    phase_figures,
    provision,
    run_phase,
)

CLUSTER = "bench"
FLEET_START_TIMEOUT_S = 300.0
"""Several processes importing the exchange at once on a small, busy machine take their time."""


@dataclass(frozen=True, slots=True)
class ClusterBenchOptions:
    """Durations, concurrency and the fleet shapes of one run."""

    seconds: float = 10.0
    clients: int = 64
    client_procs: int = 4
    gateways: tuple[int, ...] = (1, 2, 4)
    users: int = 8
    keys_per_user: int = 20
    lease_ttl: float = 5.0


@dataclass
class Fleet:
    """The processes of one cluster run (all children of this one)."""

    root: Path
    lease_ttl: float
    nats: LocalNats = field(init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nats = LocalNats(self.root / "nats")

    @property
    def settings(self) -> ClusterSettings:
        """The fleet's cluster settings (as the bench sees them)."""
        return ClusterSettings(
            journal_url=self.nats.url,
            cluster_name=CLUSTER,
            node_id="bench",
            lease_ttl_s=self.lease_ttl,
            lease_renew_s=self.lease_ttl / 5,
        )

    def env(self, name: str) -> dict[str, str]:
        """A development process of the fleet."""
        return {
            **os.environ,
            "WCX_ENV": "development",
            "DATA_DIR": str(self.root / name),
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.root / 'wcx.sqlite3'}",
            "REDIS_URL": "",
            "JWT_SECRET": "bench-jwt-" + "j" * 32,
            "REFRESH_SECRET": "bench-refresh-" + "r" * 32,
            "LOG_LEVEL": "WARNING",
            "JOURNAL_URL": self.nats.url,
            "CLUSTER_NAME": CLUSTER,
            "NODE_ID": name,
            "LEASE_TTL_S": str(self.lease_ttl),
            "LEASE_RENEW_S": str(self.lease_ttl / 5),
        }

    def spawn(self, name: str, role: str) -> None:
        """Start one `wcx serve --role` process."""
        # Gateways serve the API on this port, engines their ops endpoints (/healthz, /readyz, /metrics).
        port = free_port()
        if role == "gateway":
            self.ports[name] = port
        command = [sys.executable, "-m", "wcx", "serve", "--role", role, "--port", str(port)]
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command, env=self.env(name), cwd=self.root, stdout=log, stderr=log
            )

    def start(self, gateways: int) -> None:
        """NATS, engine a (leader), engine b (standby), then the gateways, each ready."""
        self.nats.start()
        self.spawn("a", "engine")
        self.wait_role("a", "leader")
        self.spawn("b", "engine")
        self.wait_role("b", "follower")
        for n in range(gateways):
            self.spawn(f"g{n + 1}", "gateway")
        for name in self.ports:
            self.wait_ready(name)

    def url(self, name: str) -> str:
        """A gateway's base URL."""
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def address(self) -> tuple[str, int]:
        """The first gateway (what `run_phase` calls the server)."""
        return "127.0.0.1", self.ports["g1"]

    def wait_ready(self, name: str) -> None:
        """Until a gateway answers /readyz."""
        deadline = time.monotonic() + FLEET_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited:\n{self.log_tail(name)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url(name)}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready:\n{self.log_tail(name)}")

    def status(self, node: str) -> wire.NodeStatus | None:
        """An engine node's status over NATS."""
        return asyncio.run(_status(self.settings, node))

    def wait_role(self, node: str, role: str, timeout: float = FLEET_START_TIMEOUT_S) -> float:
        """Until the node reports `role`; the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[node].poll() is not None:
                raise RuntimeError(f"{node} exited:\n{self.log_tail(node)}")
            seen = self.status(node)
            if seen is not None and seen.role == role:
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"{node} is not {role}:\n{self.log_tail(node)}")

    def cpu_seconds(self) -> float:
        """User + system CPU of every fleet process so far (the NATS server included)."""
        pids = [p.pid for p in self.processes.values() if p.poll() is None]
        pids += [n.process.pid for n in self.nats.nodes if n.process is not None and n.process.poll() is None]
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def log_tail(self, name: str) -> str:
        """The end of a process's output."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM every process (gateways first), then the NATS server."""
        for name in sorted(self.processes, key=lambda n: not n.startswith("g")):
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.nats.stop()


async def _status(settings: ClusterSettings, node: str) -> wire.NodeStatus | None:
    nc = await nats.connect(settings.servers, connect_timeout=2, allow_reconnect=False)
    try:
        msg = await nc.request(settings.status_subject(node), b"", timeout=2)
        return wire.decode_status(msg.data)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return None
    finally:
        await nc.close()


def _jobs(ports: list[int], options: ClusterBenchOptions, credentials: list[Credential]) -> list[Job]:
    """Client processes spread round-robin over the ports, connections and keys split between them."""
    procs = max(options.client_procs, len(ports))
    keys = [tuple(credentials[n::procs]) for n in range(procs)]
    sizes = [options.clients // procs + (1 if n < options.clients % procs else 0) for n in range(procs)]
    return [
        Job("orders", "127.0.0.1", ports[n % len(ports)], options.seconds, size, keys[n], 0.0, n)
        for n, size in enumerate(sizes)
    ]


FIGURES = ("placed_per_s", "order_commands_per_s", "p50_ms", "p99_ms", "p999_ms", "answers",
           "client_cpu_cores", "server_cpu_cores")  # fmt: skip


def _throughput(server: Any, jobs: list[Job], seconds: float) -> dict[str, Any]:
    figures = phase_figures(run_phase("throughput", server, jobs, seconds))
    return {key: figures[key] for key in FIGURES}


def file_journal_run(options: ClusterBenchOptions) -> dict[str, Any]:
    """The single-process baseline: `wcx serve` with its file journal, the same clients."""
    with tempfile.TemporaryDirectory(prefix="wcx-bench-cluster-") as root:
        server = ServerProcess(Path(root))
        server.start()
        try:
            credentials = provision(server.url, options.users, options.keys_per_user)
            jobs = _jobs([server.address[1]], options, credentials)
            figures = _throughput(server, jobs, options.seconds)
            return {"setup": "file journal, 1 process", "gateways": 0, **figures}
        finally:
            server.stop()


def cluster_run(options: ClusterBenchOptions, gateways: int) -> dict[str, Any]:
    """A fresh fleet with `gateways` gateway processes, driven by the same clients."""
    with tempfile.TemporaryDirectory(prefix="wcx-bench-cluster-") as root:
        fleet = Fleet(Path(root), options.lease_ttl)
        try:
            fleet.start(gateways)
            credentials = provision(fleet.url("g1"), options.users, options.keys_per_user)
            figures = _throughput(
                fleet, _jobs(sorted(fleet.ports.values()), options, credentials), options.seconds
            )
            return {"setup": f"JetStream log, {gateways} gateway(s)", "gateways": gateways, **figures}
        finally:
            fleet.stop()


class _Probe:
    """Places orders one at a time through a gateway; remembers (sent, answered, status) of each."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.answers: list[tuple[float, float, int]] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        prefix = secrets.token_hex(4)
        with httpx.Client(base_url=self.url, timeout=60, headers=headers) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = {"symbol": "BTC-USDT", "side": "buy", "price": "10000", "quantity": "0.001",
                        "client_order_id": f"probe-{prefix}-{n}"}  # fmt: skip
                sent = time.monotonic()
                try:
                    status = http.post("/api/v1/orders", json=body).status_code
                except httpx.TransportError:
                    status = 0
                self.answers.append((sent, time.monotonic(), status))

    def first_ack_after(self, moment: float, timeout: float) -> float | None:
        """When the first request sent after `moment` was acknowledged (None if none within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for sent, answered, status in list(self.answers):
                if sent > moment and status == 201:
                    return answered
            time.sleep(0.01)
        return None


def failover_run(options: ClusterBenchOptions) -> dict[str, Any]:
    """kill -9 the leader under a probe's orders: time to the standby's lease, to the first new ack."""
    with tempfile.TemporaryDirectory(prefix="wcx-bench-cluster-") as root:
        fleet = Fleet(Path(root), options.lease_ttl)
        try:
            fleet.start(1)
            url = fleet.url("g1")
            email = "probe@bench.wcx.local"
            with httpx.Client(base_url=url, timeout=60) as http:
                http.post(
                    "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
                ).raise_for_status()
                login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
                token = login.json()["access_token"]
                http.post(
                    "/dev/credit", json={"email": email, "asset": "USDT", "amount": "1000000"}
                ).raise_for_status()
            with _Probe(url, token) as probe:
                time.sleep(1.0)
                killed = time.monotonic()
                fleet.processes["a"].send_signal(signal.SIGKILL)
                fleet.processes["a"].wait()
                leading = fleet.wait_role("b", "leader", timeout=options.lease_ttl * 4 + 10)
                acked = probe.first_ack_after(killed, timeout=60)
            if acked is None:
                raise RuntimeError(f"no order acknowledged after the kill:\n{fleet.log_tail('g1')}")
            return {
                "lease_ttl_s": options.lease_ttl,
                "takeover_s": round(leading - killed, 3),
                "first_ack_s": round(acked - killed, 3),
            }
        finally:
            fleet.stop()


def run_cluster_bench(options: ClusterBenchOptions) -> dict[str, Any]:
    """Every run; the figures as one dict."""
    runs = [file_journal_run(options)]
    runs += [cluster_run(options, gateways) for gateways in options.gateways]
    return {
        "cpus": os.cpu_count(),
        "options": {name: getattr(options, name) for name in ClusterBenchOptions.__slots__},
        "runs": runs,
        "failover": failover_run(options),
    }
