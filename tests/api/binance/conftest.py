"""Black-box fixtures: one real `wcx serve` per module, funded users with API keys, ccxt pointed at it,
and a socket guard that refuses (and records) every connection that is not to 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import httpx
import pytest

from wcx.testing.server import Server
from wcx.testing.services import server_services


class EgressRefusedError(OSError):
    """A connection to somewhere other than the loopback address was attempted."""


@dataclass
class Egress:
    """Every address a socket in this process connected (or sent a datagram) to during the test."""

    peers: list[Any]
    expected_strays: bool = False


def _host(address: Any) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # AF_UNIX paths stay on the machine


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[Egress]:
    """Refuse connections and datagrams to non-loopback addresses, record the rest (ccxt uses sockets)."""
    seen = Egress([])
    real_connect, real_connect_ex, real_sendto = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.socket.sendto,
    )

    def check(address: Any) -> None:
        host = _host(address)
        if host is not None:
            seen.peers.append(address)
            if not _loopback(host):
                raise EgressRefusedError(f"test tried to reach {address!r}; only 127.0.0.1 is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        check(args[-1])
        return real_sendto(self, data, *args)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    yield seen
    # Every test proves it: even an attempt that a client swallowed (retries, fallbacks) is recorded.
    strays = [peer for peer in seen.peers if not _loopback(str(peer[0]))]
    assert not strays or seen.expected_strays, f"connections left 127.0.0.1: {strays}"


@dataclass
class Trader:
    """A registered user with a read+trade API key and funds."""

    email: str
    key: str
    secret: str


@dataclass
class Venue:
    """The running server and its users."""

    server: Server
    url: str
    alice: Trader
    bob: Trader

    def rest(self, trader: Trader | None = None, **options: Any) -> ccxt.binance:
        """A synchronous ccxt binance client for this server (spot only, no margin or currency calls)."""
        return ccxt.binance(config(self.url, trader, **options))


def config(url: str, trader: Trader | None = None, **options: Any) -> dict[str, Any]:
    """The ccxt configuration README.md documents, pointed at `url` (http://host:port)."""
    ws = url.replace("http://", "ws://")
    settings: dict[str, Any] = {
        "enableRateLimit": False,
        "urls": {
            "api": {
                "public": f"{url}/api/v3",
                "private": f"{url}/api/v3",
                "ws": {"spot": f"{ws}/ws", "ws-api": {"spot": f"{ws}/ws-api/v3"}},
            }
        },
        "options": {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            **options,
        },
    }
    if trader is not None:
        settings |= {"apiKey": trader.key, "secret": trader.secret}
    return settings


PASSWORD = "correct horse battery"


def session_headers(http: httpx.Client, email: str) -> dict[str, str]:
    """Register (auto-verified in development) and log in: the access token's header."""
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 202
    login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def create_key(http: httpx.Client, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """A new API key (POST /api/v1/api-keys) with read and trade permissions."""
    created = http.post("/api/v1/api-keys", json={"permissions": ["read", "trade"], **body}, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _trader(http: httpx.Client, email: str, funds: dict[str, str]) -> Trader:
    created = create_key(http, session_headers(http, email))
    for asset, amount in funds.items():
        response = http.post("/dev/credit", json={"email": email, "asset": asset, "amount": amount})
        assert response.status_code == 200, response.text
    return Trader(email, created["key"], created["secret"])


@pytest.fixture(scope="module")
def venue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venue]:
    """One server for the module (start-up is the slow part), with two funded traders.

    Parametrize indirectly with "postgresql+redis" to run against PostgreSQL and Redis (bus, rate
    limits, replay store) instead of SQLite and in-process ones.
    """
    root: Path = tmp_path_factory.mktemp("binance")
    with server_services(getattr(request, "param", "sqlite")) as services:
        server = Server(root / "data", services)
        server.data_dir.mkdir()
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                funds = {"USDT": "1000000", "BTC": "10", "ETH": "100"}
                alice, bob = (
                    _trader(http, "alice@example.com", funds),
                    _trader(http, "bob@example.com", funds),
                )
            yield Venue(server, server.url, alice, bob)
        finally:
            server.stop()
