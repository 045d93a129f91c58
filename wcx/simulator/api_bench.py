"""`wcx bench api`: a real `wcx serve` process driven over HTTP and WebSocket from separate client processes.

The server runs as `python -m wcx serve --port 0` over a temporary data directory (SQLite, in-process
bus, WCX_ENV=development, LOG_LEVEL=WARNING). Set-up registers users, creates HMAC API keys with the
trade permission (many keys, so the per-key rate limit of 100 requests/s never binds) and funds the
users through the loopback `POST /dev/credit`. Then, each phase from freshly spawned client processes
that connect first and start together on a barrier:

1. throughput: `clients` keep-alive connections in a closed loop, each signed request a placement
   (90 % resting limits 1–50 USDT from a fixed mid, 10 % IOC limits crossing the whole spread) or a
   cancel of an order the same key placed; latency from send to the last byte of the answer.
2. ws-api: the same order mix in the same closed loop over the Binance WebSocket API (`/ws-api/v3`,
   SIGNED `order.place` / `order.cancel`, one request at a time per connection,
   `wcx.simulator.ws_api_client`): the order path without HTTP's per-request cost.
3. floor: the same closed loop against `GET /healthz` (no auth, no engine, same middleware).
4. paced: open loop at `paced_rate` order commands/s over a connection pool; latency is measured from
   each request's scheduled send time, so a server that falls behind shows its queueing.
5. WebSocket: `ws_subscribers` connections subscribed to `book.BTC-USDT`, while another process
   sends order commands at `ws_rate`/s; delivery delay = receive time − the diff's `ts` (engine time,
   ns since the epoch, same host clock, taken when the frame is read); the prev_seq chain is
   checked. The subscribers are bare WebSocket clients (`wcx.simulator.book_watcher`) so that
   measuring costs their processes less CPU than delivering costs the server.

"Order commands" are placements and cancels (about half each); `orders_per_s` counts placements
answered 2xx, i.e. durable. The client is a minimal HTTP/1.1 client over asyncio streams (no
pipelining), because httpx would cost more CPU per request than the server's own path; each phase
reports the CPU its client processes and the server used, so a client-bound figure is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import uvloop

from wcx.api.auth.signing import hmac_signature, message
from wcx.runtime import read_lock_info
from wcx.simulator.book_watcher import BookWatcher, watch
from wcx.simulator.ws_api_client import WsApiConnection

SYMBOL = "BTC-USDT"
BINANCE_SYMBOL = SYMBOL.replace("-", "")
MID = 65_000
SPREAD_LEVELS = 50
"""Resting limits are 1..SPREAD_LEVELS whole USDT away from MID; crossing ones go beyond all of them."""
QUANTITY = "0.0010"
CROSSING_SHARE = 0.10
RESTING_PER_KEY = 4
"""A key cancels its oldest order once it has this many resting (keeps the book and the holds bounded)."""
CANCEL_SHARE = 0.45
PASSWORD = "bench password 12345"
FUNDS = {"USDT": "1000000000", "BTC": "100000"}
START_TIMEOUT_S = 60.0
DRAIN_S = 10.0
CONNECT_CONCURRENCY = 50
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """Durations, concurrency and sizes of one run."""

    seconds: float = 10.0
    clients: int = 128
    client_procs: int = 1
    paced_rate: float = 2000.0
    paced_connections: int = 256
    ws_subscribers: int = 1000
    ws_procs: int = 4
    ws_rate: float = 50.0
    users: int = 8
    keys_per_user: int = 20
    profile: str = ""
    quickack: bool = False


@dataclass(frozen=True, slots=True)
class Credential:
    """An HMAC API key with the trade permission."""

    key: str
    secret: str


# --- the server --------------------------------------------------------------------------------------


class ServerProcess:
    """`python -m wcx serve` over a temporary data directory, optionally under cProfile."""

    def __init__(self, root: Path, profile: str = "") -> None:
        self.root = root
        self.data_dir = root / "data"
        self.log_path = root / "server.log"
        self.profile = profile
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """A development server on SQLite and the in-process bus."""
        return {
            **os.environ,
            "WCX_ENV": "development",
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "JWT_SECRET": secrets.token_hex(32),
            "REFRESH_SECRET": secrets.token_hex(32),
            "LOG_LEVEL": "WARNING",
        }

    def start(self) -> None:
        """Start it on a free port and wait until /readyz answers 200."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        profiler = ["-m", "cProfile", "-o", str(Path(self.profile).resolve())] if self.profile else []
        command = [sys.executable, *profiler, "-m", "wcx", "serve", "--port", "0", "--admin-port", "0"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env(), cwd=self.root, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited during start-up:\n{self.log_tail()}")
            self.url = read_lock_info(self.data_dir).get("api", "")
            with contextlib.suppress(httpx.TransportError):
                if self.url and httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM (so a profile is written), then SIGKILL if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server so far: its threads, its projector process, reaped children."""
        assert self.process is not None
        pid = self.process.pid
        own = _cpu_ticks(pid, with_reaped_children=True)
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return (own + sum(_cpu_ticks(int(child)) for child in children)) / os.sysconf("SC_CLK_TCK")

    def log_tail(self) -> str:
        """The end of the server's output."""
        return self.log_path.read_text(errors="replace")[-4000:]

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the API listener."""
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        return host, int(port)


def _cpu_ticks(pid: int, *, with_reaped_children: bool = False) -> int:
    """utime + stime of a process (+ cutime + cstime); 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return 0
    return sum(int(value) for value in fields[11 : 15 if with_reaped_children else 13])


def provision(url: str, users: int, keys_per_user: int) -> list[Credential]:
    """Register and fund `users` users, each with `keys_per_user` trading API keys."""
    credentials = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for n in range(users):
            email = f"bench-{n}@example.com"
            registered = http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
            registered.raise_for_status()
            login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            login.raise_for_status()
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for _ in range(keys_per_user):
                created = http.post(
                    "/api/v1/api-keys", json={"permissions": ["read", "trade"]}, headers=bearer
                )
                created.raise_for_status()
                credentials.append(Credential(created.json()["key"], created.json()["secret"]))
            for asset, amount in FUNDS.items():
                http.post(
                    "/dev/credit", json={"email": email, "asset": asset, "amount": amount}
                ).raise_for_status()
    return credentials


# --- the HTTP client ---------------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time; answers must carry Content-Length."""

    def __init__(self, host: str, port: int, quickack: bool = False) -> None:
        self.host = host
        self.port = port
        self.quickack = quickack
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Open (or reopen) the TCP connection (asyncio sets TCP_NODELAY)."""
        self.close()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        """Drop the connection."""
        if self._writer is not None:
            self._writer.close()
            self._reader = self._writer = None

    async def send(self, request: Request) -> tuple[int, bytes]:
        """(status, body) of a `Request`, signed if it has a trader."""
        return await self.request(request.method, request.target, request.body, request.headers())

    async def request(self, method: str, target: str, body: bytes, headers: str) -> tuple[int, bytes]:
        """(status, body); `headers` are extra header lines, each ending in CRLF."""
        if self._writer is None:
            await self.connect()
        assert self._reader is not None and self._writer is not None
        length = f"content-length: {len(body)}\r\ncontent-type: application/json\r\n" if body else ""
        head = f"{method} {target} HTTP/1.1\r\nhost: {self.host}\r\n{length}{headers}\r\n"
        self._writer.write(head.encode() + body)
        if self.quickack:
            # Linux delays the ACK of the answer's first segment (the headers) in a request/response
            # exchange; a server without TCP_NODELAY then holds the body back until that ACK, 40 ms.
            self._writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        try:
            answer = await self._reader.readuntil(b"\r\n\r\n")
            found = _CONTENT_LENGTH.search(answer)
            payload = await self._reader.readexactly(int(found[1])) if found else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()  # the server closed an idle keep-alive connection; the next request reconnects
            raise
        return int(answer[9:12]), payload


class WsApiChannel(WsApiConnection):
    """A WebSocket API connection sending `WsApiOrderTraffic` requests (method in `target`)."""

    async def send(self, request: Request) -> tuple[int, bytes]:
        """(status, the answer frame) of a signed request."""
        assert request.trader is not None and request.params is not None, "a signed WebSocket API request"
        credential = request.trader.credential
        return await self.call(request.target, request.params, credential.key, credential.secret)


class Channel(Protocol):
    """A connection the load loops send `Request`s over, one at a time."""

    async def connect(self) -> None:
        """Open it."""
        ...

    async def send(self, request: Request) -> tuple[int, bytes]:
        """(status, answer) of one request."""
        ...

    def close(self) -> None:
        """Drop it."""
        ...


# --- traffic -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Trader:
    """One API key and the orders it has resting."""

    credential: Credential
    resting: deque[int] = field(default_factory=deque)


@dataclass(slots=True)
class Request:
    """One request to send; `trader` signs it and learns the order it placed. A WebSocket API request
    has method "WS", the API method as `target` and its parameters (before signing) in `params`."""

    kind: str
    method: str
    target: str
    body: bytes = b""
    trader: Trader | None = None
    params: dict[str, Any] | None = None

    def headers(self) -> str:
        """The X-WCX-* signature headers (none for an unsigned request)."""
        if self.trader is None:
            return ""
        stamp = str(time.time_ns() // 1_000_000)
        credential = self.trader.credential
        signature = hmac_signature(credential.secret, message(stamp, self.method, self.target, self.body))
        return f"x-wcx-key: {credential.key}\r\nx-wcx-timestamp: {stamp}\r\nx-wcx-signature: {signature}\r\n"


class Traffic(Protocol):
    """What a load loop sends and how answers feed back into it."""

    def next(self) -> Request:
        """The next request."""
        ...

    def done(self, request: Request, status: int, body: bytes) -> None:
        """The answer to `request`."""
        ...


class FloorTraffic:
    """`GET /healthz`: the server's request floor."""

    def next(self) -> Request:
        """The same trivial request every time."""
        return Request("floor", "GET", "/healthz")

    def done(self, request: Request, status: int, body: bytes) -> None:
        """Nothing to learn."""


@dataclass(slots=True)
class OrderIntent:
    """The next order command of the mix, before a protocol encodes it: a cancel or a placement."""

    trader: Trader
    cancel_id: int = 0
    """The order to cancel; 0 for a placement."""
    buy: bool = False
    price: int = 0
    ioc: bool = False
    client_order_id: str = ""


class OrderMix:
    """Placements (resting and crossing limits) and cancels, round-robin over API keys."""

    def __init__(self, credentials: tuple[Credential, ...], seed: int) -> None:
        self._traders = [Trader(credential) for credential in credentials]
        self._turn = 0
        self._rng = random.Random(seed)
        self._prefix = f"b{seed}-{secrets.token_hex(3)}-"
        self._placed = 0

    def next(self) -> OrderIntent:
        """A cancel of the trader's oldest order, or a new placement."""
        trader = self._traders[self._turn % len(self._traders)]
        self._turn += 1
        rng = self._rng
        if trader.resting and (len(trader.resting) >= RESTING_PER_KEY or rng.random() < CANCEL_SHARE):
            return OrderIntent(trader, cancel_id=trader.resting.popleft())
        buy = rng.random() < 0.5
        self._placed += 1
        client_order_id = f"{self._prefix}{self._placed}"
        if rng.random() < CROSSING_SHARE:
            price = MID + (SPREAD_LEVELS + 1) * (1 if buy else -1)
            return OrderIntent(trader, buy=buy, price=price, ioc=True, client_order_id=client_order_id)
        price = MID + rng.randint(1, SPREAD_LEVELS) * (-1 if buy else 1)
        return OrderIntent(trader, buy=buy, price=price, client_order_id=client_order_id)


class OrderTraffic:
    """The order mix as signed `/api/v1` requests."""

    def __init__(self, credentials: tuple[Credential, ...], seed: int) -> None:
        self._mix = OrderMix(credentials, seed)

    def next(self) -> Request:
        """The next placement or cancel."""
        intent = self._mix.next()
        if intent.cancel_id:
            return Request("cancel", "DELETE", f"/api/v1/orders/{intent.cancel_id}", b"", intent.trader)
        order = {
            "symbol": SYMBOL,
            "side": "buy" if intent.buy else "sell",
            "quantity": QUANTITY,
            "price": str(intent.price),
            "client_order_id": intent.client_order_id,
        }
        if intent.ioc:
            order["time_in_force"] = "ioc"
        return Request("place", "POST", "/api/v1/orders", orjson.dumps(order), intent.trader)

    def done(self, request: Request, status: int, body: bytes) -> None:
        """Remember a placement that rests, so it is cancelled later."""
        if request.kind == "place" and status == 201 and request.trader is not None:
            placed = orjson.loads(body)
            if placed["status"] == "open":
                request.trader.resting.append(placed["order_id"])


class WsApiOrderTraffic:
    """The order mix as Binance WebSocket API requests (`order.place` / `order.cancel`, SIGNED)."""

    def __init__(self, credentials: tuple[Credential, ...], seed: int) -> None:
        self._mix = OrderMix(credentials, seed)

    def next(self) -> Request:
        """The next placement or cancel."""
        intent = self._mix.next()
        if intent.cancel_id:
            params: dict[str, Any] = {"symbol": BINANCE_SYMBOL, "orderId": intent.cancel_id}
            return Request("cancel", "WS", "order.cancel", trader=intent.trader, params=params)
        params = {
            "symbol": BINANCE_SYMBOL,
            "side": "BUY" if intent.buy else "SELL",
            "type": "LIMIT",
            "timeInForce": "IOC" if intent.ioc else "GTC",
            "quantity": QUANTITY,
            "price": str(intent.price),
            "newClientOrderId": intent.client_order_id,
            "newOrderRespType": "RESULT",
        }
        return Request("place", "WS", "order.place", trader=intent.trader, params=params)

    def done(self, request: Request, status: int, body: bytes) -> None:
        """Remember a placement that rests, so it is cancelled later."""
        if request.kind == "place" and status == 200 and request.trader is not None:
            placed = orjson.loads(body)["result"]
            if placed["status"] == "NEW":
                request.trader.resting.append(placed["orderId"])


@dataclass(slots=True)
class Tally:
    """What one client process measured."""

    latencies_ms: array[float] = field(default_factory=lambda: array("d"))
    answers: Counter[str] = field(default_factory=Counter)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    subscribers: int = 0
    gaps: int = 0
    drops: int = 0

    def merge(self, other: Tally) -> None:
        """Add another process's figures (CPU adds up; wall is the longest)."""
        self.latencies_ms.extend(other.latencies_ms)
        self.answers.update(other.answers)
        self.cpu_s += other.cpu_s
        self.wall_s = max(self.wall_s, other.wall_s)
        self.subscribers += other.subscribers
        self.gaps += other.gaps
        self.drops += other.drops

    def ok(self, kind: str) -> int:
        """2xx answers to requests of `kind`."""
        return sum(n for key, n in self.answers.items() if key.startswith(f"{kind} 2"))


async def _exchange(connection: Channel, traffic: Traffic, tally: Tally, started: float) -> None:
    """Send the next request and record its latency from `started` (send time, or scheduled time)."""
    request = traffic.next()
    try:
        status, body = await connection.send(request)
    except (asyncio.IncompleteReadError, ConnectionError):
        tally.answers[f"{request.kind} disconnected"] += 1
        return
    tally.latencies_ms.append((time.perf_counter() - started) * 1000)
    tally.answers[f"{request.kind} {status}"] += 1
    traffic.done(request, status, body)


async def closed_loop(connections: Sequence[Channel], traffic: Traffic, seconds: float, tally: Tally) -> None:
    """Every connection sends its next request as soon as the previous one is answered."""
    deadline = time.perf_counter() + seconds

    async def worker(connection: Channel) -> None:
        while (now := time.perf_counter()) < deadline:
            await _exchange(connection, traffic, tally, now)

    await asyncio.gather(*(worker(connection) for connection in connections))


async def open_loop(
    connections: Sequence[Channel], traffic: Traffic, rate: float, seconds: float, tally: Tally
) -> None:
    """Requests on a fixed schedule; one waits for a free connection, and that wait counts as latency."""
    pool: asyncio.Queue[Channel] = asyncio.Queue()
    for connection in connections:
        pool.put_nowait(connection)
    tasks: set[asyncio.Task[None]] = set()

    async def one(scheduled: float) -> None:
        connection = await pool.get()
        try:
            await _exchange(connection, traffic, tally, scheduled)
        finally:
            pool.put_nowait(connection)

    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = start + n / rate
        if (wait := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        task = asyncio.create_task(one(scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, late = await asyncio.wait(tasks, timeout=DRAIN_S)
        for task in late:
            task.cancel()
        tally.answers["unanswered"] += len(late)


# --- WebSocket subscribers ---------------------------------------------------------------------------


async def subscribers(
    host: str, port: int, count: int, barrier: Barrier, seconds: float, tally: Tally
) -> None:
    """`count` book subscribers, each with its snapshot before the barrier; measured `seconds` + 1 s."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> BookWatcher:
        async with gate:
            return await asyncio.wait_for(watch(host, port, f"book.{SYMBOL}"), START_TIMEOUT_S)

    watchers = await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.to_thread(barrier.wait)
    cpu, wall = time.process_time(), time.perf_counter()
    for watcher in watchers:
        watcher.measuring = True
    await asyncio.sleep(seconds + 1.0)
    tally.cpu_s, tally.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    for watcher in watchers:
        tally.latencies_ms.extend(watcher.delays_ms)
        tally.gaps += watcher.gaps
        tally.drops += watcher.dropped
        watcher.close()
    tally.subscribers = len(watchers)


# --- client processes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """What one client process does: `kind` is orders | floor (HTTP loops), ws-api (WebSocket API order
    loop) or subscribers."""

    kind: str
    host: str
    port: int
    seconds: float
    connections: int
    credentials: tuple[Credential, ...] = ()
    rate: float = 0.0
    seed: int = 0
    quickack: bool = False


async def _run_job(job: Job, barrier: Barrier) -> Tally:
    tally = Tally()
    if job.kind == "subscribers":
        await subscribers(job.host, job.port, job.connections, barrier, job.seconds, tally)
        return tally
    traffic: Traffic
    connections: list[Channel]
    if job.kind == "ws-api":
        traffic = WsApiOrderTraffic(job.credentials, job.seed)
        connections = [WsApiChannel(job.host, job.port) for _ in range(job.connections)]
    else:
        traffic = FloorTraffic() if job.kind == "floor" else OrderTraffic(job.credentials, job.seed)
        connections = [HttpConnection(job.host, job.port, job.quickack) for _ in range(job.connections)]
    await asyncio.gather(*(connection.connect() for connection in connections))
    await asyncio.to_thread(barrier.wait)
    cpu, wall = time.process_time(), time.perf_counter()
    if job.rate:
        await open_loop(connections, traffic, job.rate, job.seconds, tally)
    else:
        await closed_loop(connections, traffic, job.seconds, tally)
    for connection in connections:
        connection.close()
    tally.cpu_s, tally.wall_s = time.process_time() - cpu, time.perf_counter() - wall
    return tally


def _client_main(job: Job, barrier: Barrier, results: Any) -> None:
    """A client process: run the job, send back its tally (or the error)."""
    try:
        # Subscribers read a thousand sockets per diff: libuv's loop does that for less CPU.
        run = uvloop.run if job.kind == "subscribers" else asyncio.run
        results.put((job.kind, run(_run_job(job, barrier))))
    except BaseException as exc:
        barrier.abort()
        results.put(RuntimeError(f"{job.kind} client failed: {exc!r}"))
        raise


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """The merged tallies of a phase, how much CPU the server used during it, and how busy the box was."""

    name: str
    tally: Tally
    seconds: float
    server_cpu_s: float
    tallies: dict[str, Tally]
    load_average: tuple[float, float] = (0.0, 0.0)
    """The 1-minute load average at the start and the end (other work on the box shows here)."""


def run_phase(name: str, server: ServerProcess, jobs: list[Job], seconds: float) -> PhaseResult:
    """Run `jobs` in their own processes, started together; the server's CPU is sampled over `seconds`."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(jobs) + 1)
    results = context.Queue()
    processes = [context.Process(target=_client_main, args=(job, barrier, results)) for job in jobs]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=START_TIMEOUT_S)
        before, load_before = server.cpu_seconds(), os.getloadavg()[0]
        time.sleep(seconds)
        server_cpu, load_after = server.cpu_seconds() - before, os.getloadavg()[0]
        tallies: dict[str, Tally] = {}
        for _ in processes:
            result = results.get(timeout=seconds + DRAIN_S + START_TIMEOUT_S)
            if isinstance(result, Exception):
                raise result
            kind, tally = result
            tallies.setdefault(kind, Tally()).merge(tally)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    merged = Tally()
    for tally in tallies.values():
        merged.merge(tally)
    return PhaseResult(name, merged, seconds, server_cpu, tallies, (load_before, load_after))


# --- figures -----------------------------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted `samples` (nearest rank), 0 when there are none."""
    if not samples:
        return 0.0
    return samples[min(len(samples) - 1, max(0, round(q / 100 * len(samples)) - 1))]


def latency_figures(tally: Tally) -> dict[str, float]:
    """p50 / p99 / p99.9 / max in ms, rounded to µs."""
    ordered = sorted(tally.latencies_ms)
    figures = {f"p{label}_ms": percentile(ordered, q) for label, q in (("50", 50), ("99", 99), ("999", 99.9))}
    figures["max_ms"] = ordered[-1] if ordered else 0.0
    return {name: round(value, 3) for name, value in figures.items()}


def phase_figures(phase: PhaseResult) -> dict[str, Any]:
    """Rates, latencies, answers and CPU of one phase."""
    tally = phase.tally
    wall = tally.wall_s or phase.seconds
    return {
        "seconds": round(wall, 2),
        "placed_per_s": round(tally.ok("place") / wall, 1),
        "order_commands_per_s": round((tally.ok("place") + tally.ok("cancel")) / wall, 1),
        "requests_per_s": round(sum(tally.answers.values()) / wall, 1),
        **latency_figures(tally),
        "answers": dict(sorted(tally.answers.items())),
        "client_cpu_cores": round(tally.cpu_s / wall, 2),
        "server_cpu_cores": round(phase.server_cpu_s / phase.seconds, 2),
        # CPU, not time: the figure that least depends on what else the machine is doing.
        "server_cpu_us_per_request": round(phase.server_cpu_s * 1e6 / max(1, sum(tally.answers.values()))),
        "load_average": [round(load, 2) for load in phase.load_average],
    }


def loop_jobs(
    kind: str, server: ServerProcess, options: BenchOptions, credentials: list[Credential], rate: float = 0.0
) -> list[Job]:
    """The jobs of a closed- or open-loop phase: one per client process, connections and keys split."""
    host, port = server.address
    total = options.paced_connections if rate else options.clients
    procs = max(1, min(options.client_procs, total))
    keys = [tuple(credentials[n::procs]) for n in range(procs)]
    return [
        Job(kind, host, port, options.seconds, size, keys[n], rate / procs, n, options.quickack)
        for n, size in enumerate(_split(total, procs))
    ]


def run_api_bench(options: BenchOptions) -> dict[str, Any]:
    """Start a server, provision users and keys, run every phase; the figures as one dict."""
    with tempfile.TemporaryDirectory(prefix="wcx-bench-api-") as root:
        server = ServerProcess(Path(root), options.profile)
        server.start()
        try:
            credentials = provision(server.url, options.users, options.keys_per_user)
            return _measure(server, options, credentials)
        finally:
            server.stop()


def _measure(server: ServerProcess, options: BenchOptions, credentials: list[Credential]) -> dict[str, Any]:
    host, port = server.address
    seconds = options.seconds
    throughput = run_phase("throughput", server, loop_jobs("orders", server, options, credentials), seconds)
    ws_api = run_phase("ws_api", server, loop_jobs("ws-api", server, options, credentials), seconds)
    floor = run_phase("floor", server, loop_jobs("floor", server, options, credentials), seconds)
    paced_jobs = loop_jobs("orders", server, options, credentials, rate=options.paced_rate)
    paced = run_phase("paced", server, paced_jobs, seconds)
    feed = Job("orders", host, port, seconds, 16, tuple(credentials), options.ws_rate, 99, options.quickack)
    watchers = [
        Job("subscribers", host, port, seconds, size)
        for size in _split(options.ws_subscribers, max(1, min(options.ws_procs, options.ws_subscribers)))
    ]
    ws = run_phase("websocket", server, [feed, *watchers], seconds)
    phases = {phase.name: phase_figures(phase) for phase in (throughput, ws_api, floor, paced)}
    subscribers_tally = ws.tallies.get("subscribers", Tally())
    delivery = latency_figures(subscribers_tally)
    diffs = len(subscribers_tally.latencies_ms)
    phases["websocket"] = {
        "subscribers": subscribers_tally.subscribers,
        "diffs_received": diffs,
        "gaps": subscribers_tally.gaps,
        "drops": subscribers_tally.drops,
        **{f"delivery_{name}": value for name, value in delivery.items()},
        "feed": phase_figures(PhaseResult("feed", ws.tallies["orders"], seconds, ws.server_cpu_s, {})),
        "subscriber_cpu_cores": round(subscribers_tally.cpu_s / (subscribers_tally.wall_s or seconds), 2),
        "server_cpu_cores": round(ws.server_cpu_s / seconds, 2),
        # CPU per delivered diff hardly depends on what else runs on the box, unlike the delays.
        "server_cpu_us_per_diff": round(ws.server_cpu_s / diffs * 1e6, 2) if diffs else 0.0,
        "subscriber_cpu_us_per_diff": round(subscribers_tally.cpu_s / diffs * 1e6, 2) if diffs else 0.0,
        "load_average": [round(load, 2) for load in ws.load_average],
    }
    floor_rate = phases["floor"]["requests_per_s"]
    commands_rate = phases["throughput"]["order_commands_per_s"]
    return {
        "orders_per_s": phases["throughput"]["placed_per_s"],
        "order_commands_per_s": commands_rate,
        "p50_ms": phases["throughput"]["p50_ms"],
        "p99_ms": phases["throughput"]["p99_ms"],
        "ws_api_orders_per_s": phases["ws_api"]["placed_per_s"],
        "ws_api_order_commands_per_s": phases["ws_api"]["order_commands_per_s"],
        "ws_api_p99_ms": phases["ws_api"]["p99_ms"],
        "paced_rate": options.paced_rate,
        "paced_2000_p50_ms": phases["paced"]["p50_ms"],
        "paced_2000_p99_ms": phases["paced"]["p99_ms"],
        "paced_2000_p999_ms": phases["paced"]["p999_ms"],
        "ws_subscribers": phases["websocket"]["subscribers"],
        "ws_rate": options.ws_rate,
        "ws_delivery_p50_ms": delivery["p50_ms"],
        "ws_delivery_p99_ms": delivery["p99_ms"],
        "ws_gaps": subscribers_tally.gaps,
        "ws_drops": subscribers_tally.drops,
        "ws_server_cpu_us_per_diff": phases["websocket"]["server_cpu_us_per_diff"],
        "floor_requests_per_s": floor_rate,
        "order_to_floor_ratio": round(commands_rate / floor_rate, 3) if floor_rate else 0.0,
        "cpus": os.cpu_count(),
        "options": {name: getattr(options, name) for name in BenchOptions.__slots__},
        "phases": phases,
    }


def iter_rows(figures: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """(phase, rate, p50, p99, p99.9, client CPU, server CPU, server CPU per request) rows for a table."""
    labels = {"throughput": "orders", "ws_api": "ws-api orders", "floor": "floor", "paced": "paced"}
    for name, label in labels.items():
        phase = figures["phases"][name]
        rate = phase["requests_per_s"] if name == "floor" else phase["order_commands_per_s"]
        yield (
            label,
            f"{rate:,.0f}",
            f"{phase['p50_ms']:.2f}",
            f"{phase['p99_ms']:.2f}",
            f"{phase['p999_ms']:.2f}",
            f"{phase['client_cpu_cores']:.2f}",
            f"{phase['server_cpu_cores']:.2f}",
            f"{phase['server_cpu_us_per_request']:,}",
        )
    ws = figures["phases"]["websocket"]
    yield (
        f"ws×{ws['subscribers']}",
        f"{ws['diffs_received'] / ws['feed']['seconds']:,.0f} msg/s",
        f"{ws['delivery_p50_ms']:.2f}",
        f"{ws['delivery_p99_ms']:.2f}",
        f"{ws['delivery_p999_ms']:.2f}",
        f"{ws['subscriber_cpu_cores'] + ws['feed']['client_cpu_cores']:.2f}",
        f"{ws['server_cpu_cores']:.2f}",
        "",
    )
