"""Black-box: the real `wcx serve` process on a free loopback port, driven over HTTP like a client would.

The story: register (auto-verified in development) → login → API key → `wcx dev credit` → place,
fill, cancel → balances and history agree → restart the server → everything is identical. Then bad
input against the real server: a 4xx with a code and no change to balances or books.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from wcx.api.auth.signing import hmac_signature, message
from wcx.primitives import format_amount
from wcx.testing.server import Server
from wcx.testing.services import server_services

PASSWORD = "correct horse battery"


@dataclass
class Client:
    """A user talking to the server with a bearer token, or with a signed API key once it has one."""

    http: httpx.Client
    email: str
    token: str = ""
    key: str = ""
    secret: str = ""

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
        """One request; signed when the client has an API key."""
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if content else {}
        if self.key:
            stamp = str(int(time.time() * 1000))
            headers |= {
                "X-WCX-KEY": self.key,
                "X-WCX-TIMESTAMP": stamp,
                "X-WCX-SIGNATURE": hmac_signature(self.secret, message(stamp, method, path, content)),
            }
        elif self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return self.http.request(method, path, content=content, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """A request that must answer `status`; its JSON."""
        response = self.call(method, path, body)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None


def expect(ws: ClientConnection, wanted: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> None:
    """Read WebSocket messages until one satisfies `wanted` (every message is checked in order)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            text = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        except TimeoutError:
            break
        message = json.loads(text)
        if wanted(message):
            return
        seen.append(message.get("type"))
    raise AssertionError(f"no matching WebSocket message; saw {seen}")


def sign_up(http: httpx.Client, email: str) -> Client:
    """Register (auto-verified in development) and log in."""
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 202
    login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Client(http, email, token=login.json()["access_token"])


def state_of(client: Client) -> dict[str, Any]:
    """Everything a user can see of their own money and orders."""
    return {
        "balances": client.ok("GET", "/api/v1/balances"),
        "open": client.ok("GET", "/api/v1/orders/open"),
        "history": client.ok("GET", "/api/v1/orders/history")["items"],
        "fills": client.ok("GET", "/api/v1/fills")["items"],
    }


def books(client: Client) -> list[Any]:
    """Every market's book without its seq."""
    out = []
    for symbol in ("BTC-USDT", "ETH-USDT", "ETH-BTC"):
        book = client.ok("GET", f"/api/v1/markets/{symbol}/book")
        out.append((book["bids"], book["asks"]))
    return out


@pytest.fixture
def services(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Environment for the backend: SQLite + in-process (default), or a fresh PostgreSQL database + Redis."""
    with server_services(getattr(request, "param", "sqlite")) as environment:
        yield environment


@pytest.fixture
def server(tmp_path: Path, services: dict[str, str]) -> Iterator[Server]:
    """A running server over tmp_path/data; stopped at the end."""
    running = Server(tmp_path / "data", services)
    running.data_dir.mkdir()
    running.start()
    yield running
    running.stop()


@pytest.mark.parametrize("services", ["sqlite", "postgresql+redis"], indirect=True)
def test_register_fund_trade_restart_and_everything_is_identical(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        session, bob = sign_up(http, "alice@example.com"), sign_up(http, "bob@example.com")
        created = session.ok("POST", "/api/v1/api-keys", {"permissions": ["read", "trade"]}, status=201)
        alice = Client(http, session.email, key=created["key"], secret=created["secret"])
        for email, asset, amount in (
            ("alice@example.com", "BTC", "1.5"),
            ("bob@example.com", "USDT", "50000"),
        ):
            result = server.dev_credit(email, asset, amount)
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["asset"] == asset

        # Alice (signed API key) rests a sell; Bob (access token) takes part of it, watching over WebSocket.
        sell = {"symbol": "BTC-USDT", "side": "sell", "price": "60000", "quantity": "0.5"}
        with connect(server.url.replace("http://", "ws://") + "/ws", open_timeout=10) as ws:
            # The client offers permessage-deflate; the server declines it (compressing per subscriber).
            assert ws.response is not None and "Sec-WebSocket-Extensions" not in ws.response.headers
            ws.send(json.dumps({"op": "login", "token": bob.token}))
            ws.send(
                json.dumps({"op": "subscribe", "channels": ["book.BTC-USDT", "trades.BTC-USDT", "account"]})
            )
            expect(ws, lambda m: m["type"] == "account_snapshot")
            maker = alice.ok("POST", "/api/v1/orders", {**sell, "client_order_id": "a-1"}, status=201)
            buy = {"symbol": "BTC-USDT", "side": "buy", "price": "60000", "quantity": "0.2"}
            taker = bob.ok("POST", "/api/v1/orders", buy, 201)
            assert taker["status"] == "filled" and taker["fills"][0]["fee"] == "24.000000"
            expect(ws, lambda m: m["type"] == "book" and ["60000.000000", "0.30000000"] in m["asks"])
            expect(ws, lambda m: m["type"] == "trades" and m["trades"][0]["quantity"] == "0.20000000")
            expect(ws, lambda m: m["type"] == "account" and any(f["fee"] == "24.000000" for f in m["fills"]))
        resting = bob.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTC-USDT", "side": "buy", "price": "50000", "quantity": "0.1"},
            201,
        )
        cancelled = bob.ok("DELETE", f"/api/v1/orders/{resting['order_id']}")
        assert cancelled["status"] == "cancelled"

        a, b = state_of(alice), state_of(bob)
        balances_a = {row["asset"]: row for row in a["balances"]}
        balances_b = {row["asset"]: row for row in b["balances"]}
        # 0.2 BTC at 60 000 = 12 000 USDT; maker fee 10 bps (12), taker 20 bps (24).
        assert (balances_a["BTC"]["available"], balances_a["BTC"]["held"]) == ("1.00000000", "0.30000000")
        assert balances_a["USDT"]["available"] == "11988.000000"
        assert (balances_b["BTC"]["total"], balances_b["USDT"]["total"]) == ("0.20000000", "37976.000000")
        assert [o["order_id"] for o in a["open"]] == [maker["order_id"]]
        assert b["open"] == []
        # History agrees with the balances: fills add up to the BTC that moved.
        assert [(f["side"], f["quantity"], f["fee"]) for f in a["fills"]] == [
            ("sell", "0.20000000", "12.000000")
        ]
        assert [(o["order_id"], o["status"]) for o in b["history"]] == [
            (resting["order_id"], "cancelled"),
            (taker["order_id"], "filled"),
        ]
        read_only = session.ok("POST", "/api/v1/api-keys", {"permissions": ["read"]}, status=201)
        reader = Client(http, alice.email, key=read_only["key"], secret=read_only["secret"])
        refused = reader.call("POST", "/api/v1/orders", sell)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"
        before = (a, b, books(alice))

    server.stop()
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        alice.http = bob.http = http
        assert (state_of(alice), state_of(bob), books(alice)) == before
        # The retry of a resting order still finds it after the restart.
        again = alice.ok("POST", "/api/v1/orders", {**sell, "client_order_id": "a-1"})
        assert again["order_id"] == maker["order_id"]


def test_dev_credit_is_refused_outside_development(server: Server) -> None:
    env = {**server.env, "WCX_ENV": "production"}
    command = [sys.executable, "-m", "wcx", "dev", "credit", "--email", "x@example.com", "--asset", "BTC"]
    result = subprocess.run(
        [*command, "--amount", "1"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    with httpx.Client(base_url=server.url, timeout=30) as http:
        unknown = http.post(
            "/dev/credit", json={"email": "nobody@example.com", "asset": "BTC", "amount": "1"}
        )
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "UNKNOWN_USER"


BAD: list[tuple[str, bytes]] = [
    ("malformed json", b'{"symbol": "BTC-USDT", "side": "sell",'),
    ("wrong types", b'{"symbol": 7, "side": "sell", "price": 60000, "quantity": 0.1}'),
    ("missing fields", b'{"price": "60000"}'),
    ("negative", b'{"symbol": "BTC-USDT", "side": "sell", "price": "60000", "quantity": "-0.1"}'),
    ("zero", b'{"symbol": "BTC-USDT", "side": "sell", "price": "60000", "quantity": "0"}'),
    ("NaN", b'{"symbol": "BTC-USDT", "side": "sell", "price": "NaN", "quantity": "0.1"}'),
    ("bare NaN", b'{"symbol": "BTC-USDT", "side": "sell", "price": NaN, "quantity": "0.1"}'),
    ("Infinity", b'{"symbol": "BTC-USDT", "side": "sell", "price": "Infinity", "quantity": "0.1"}'),
    ("1e400", b'{"symbol": "BTC-USDT", "side": "sell", "price": 1e400, "quantity": "0.1"}'),
    ("1e400 string", b'{"symbol": "BTC-USDT", "side": "sell", "price": "1e400", "quantity": "0.1"}'),
    (
        "too many decimals",
        b'{"symbol": "BTC-USDT", "side": "sell", "price": "60000", "quantity": "0.123456789"}',
    ),
    ("unknown market", b'{"symbol": "NOPE-USDT", "side": "sell", "price": "1", "quantity": "1"}'),
    ("unicode junk", '{"symbol": "BTC‐USDT", "side": "séll", "price": "６0000", "quantity": "0.1"}'.encode()),
    ("invalid utf-8", b'{"symbol": "\xff\xfe", "side": "sell"}'),
    ("oversized", b'{"symbol": "BTC-USDT", "side": "sell", "client_order_id": "' + b"x" * 70_000 + b'"}'),
]


def test_bad_order_input_is_refused_with_a_code_and_changes_nothing(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        alice = sign_up(http, "mallory@example.com")
        assert server.dev_credit(alice.email, "BTC", "1").returncode == 0
        alice.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTC-USDT", "side": "sell", "price": "70000", "quantity": "0.1"},
            201,
        )
        before = (state_of(alice)["balances"], alice.ok("GET", "/api/v1/orders/open"), books(alice))
        for label, raw in BAD:
            response = alice.call("POST", "/api/v1/orders", raw=raw)
            assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
            assert response.json()["error"]["code"], label
        assert (state_of(alice)["balances"], alice.ok("GET", "/api/v1/orders/open"), books(alice)) == before


def test_demo_users_can_log_in_and_the_simulated_traders_keep_the_books_alive(tmp_path: Path) -> None:
    demo = Server(tmp_path / "data")
    demo.data_dir.mkdir()
    demo.start("--demo")
    try:
        with httpx.Client(base_url=demo.url, timeout=30) as http:
            deadline = time.monotonic() + 20
            while "demo user bob@demo.wcx.local  password bob-demo-password" not in demo.log_tail():
                assert time.monotonic() < deadline, demo.log_tail()
                time.sleep(0.1)
            login = http.post(
                "/api/v1/auth/login", json={"email": "bob@demo.wcx.local", "password": "bob-demo-password"}
            )
            assert login.status_code == 200, login.text
            bob = Client(http, "bob@demo.wcx.local", token=login.json()["access_token"])
            assert {b["asset"]: b["total"] for b in bob.ok("GET", "/api/v1/balances")}[
                "USDT"
            ] == "100000.000000"
            while not all(bids and asks for bids, asks in books(bob)):
                assert time.monotonic() < deadline, "the simulated traders left a book empty"
                time.sleep(0.2)
    finally:
        demo.stop()


def test_migrate_and_offline_dev_credit_without_a_server(tmp_path: Path) -> None:
    offline = Server(tmp_path / "data")
    offline.data_dir.mkdir()
    migrated = subprocess.run(
        [sys.executable, "-m", "wcx", "migrate"],
        env=offline.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0 and "database at revision" in migrated.stdout, migrated.stderr
    unknown = offline.dev_credit("nobody@example.com", "BTC", "1")
    assert unknown.returncode == 1 and "UNKNOWN_USER" in unknown.stderr
    offline.start()
    with httpx.Client(base_url=offline.url, timeout=30) as http:
        sign_up(http, "olga@example.com")
    offline.stop()
    # No server owns the data directory now: the command opens it itself, through the journal.
    credited = offline.dev_credit("olga@example.com", "ETH", "1.25")
    assert credited.returncode == 0, credited.stderr
    assert json.loads(credited.stdout)["available"] == "1.250000000000000000"
    offline.start()
    try:
        with httpx.Client(base_url=offline.url, timeout=30) as http:
            olga = sign_up(http, "olga@example.com")
            balances = olga.ok("GET", "/api/v1/balances")
    finally:
        offline.stop()
    assert {b["asset"]: b["total"] for b in balances}["ETH"] == "1.250000000000000000"


def test_kill_9_under_signed_order_load_loses_no_acknowledged_order(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        session = sign_up(http, "kim@example.com")
        created = session.ok("POST", "/api/v1/api-keys", {"permissions": ["read", "trade"]}, status=201)
    assert server.dev_credit("kim@example.com", "USDT", "1000000").returncode == 0
    acknowledged: list[int] = []
    stop = threading.Event()

    def trader(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as http:
            kim = Client(http, "kim@example.com", key=created["key"], secret=created["secret"])
            for n in itertools.count():
                body = {"symbol": "BTC-USDT", "side": "buy", "price": "1000", "quantity": "0.01"}
                try:
                    response = kim.call(
                        "POST", "/api/v1/orders", {**body, "client_order_id": f"w{worker}-{n}"}
                    )
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 201:
                    acknowledged.append(response.json()["order_id"])
                if stop.is_set():
                    return

    workers = [threading.Thread(target=trader, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.process is not None
    server.process.kill()  # SIGKILL while orders are in flight
    server.process.wait(timeout=30)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    server.process = None
    assert len(acknowledged) >= 100

    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        kim = sign_up(http, "kim@example.com")
        open_ids = {o["order_id"] for o in kim.ok("GET", "/api/v1/orders/open")}
        assert set(acknowledged) <= open_ids
        usdt = {b["asset"]: b for b in kim.ok("GET", "/api/v1/balances")}["USDT"]
        # Each resting order holds 10 USDT + the 20 bps maximum fee.
        assert usdt["held"] == format_amount(len(open_ids) * 10_020_000, 6)
        history: set[int] = set()
        cursor = None
        while True:
            query = "&cursor=" + cursor if cursor else ""
            page = kim.ok("GET", f"/api/v1/orders/history?limit=1000{query}")
            history |= {o["order_id"] for o in page["items"]}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert history == open_ids  # the projection caught up with the engine after the crash
