"""Black-box helpers: the real `wcx serve` process with a SoftHSM hot wallet on a local EVM over HTTP,
and a user driving it through the HTTP API (register, 2FA, dev credit, withdraw)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp

from wcx.testing.server import Server
from wcx.testing.softhsm import USER_PIN, SoftHsm

T = TypeVar("T")
PASSWORD = "correct horse battery"


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def hot_wallet_server(data_dir: Path, softhsm: SoftHsm, hsm_token: str, **services: str) -> Server:
    """A `wcx serve` whose hot wallet key is `hot` in SoftHSM token `hsm_token`, polling withdrawals fast."""
    env = {
        "SOFTHSM2_CONF": str(softhsm.conf),
        "WALLET_SIGNER": "pkcs11",
        "PKCS11_MODULE": softhsm.module,
        "HSM_TOKEN_LABEL": hsm_token,
        "HSM_KEY_LABEL": "hot",
        "HSM_PIN": USER_PIN,
        "WITHDRAWAL_POLL_S": "0.1",
        "LOG_LEVEL": "INFO",
        **services,
    }
    return Server(data_dir, env)


class Customer:
    """A user of a running server: signs up, turns 2FA on, gets deposit addresses, trades, withdraws."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.headers: dict[str, str] = {}
        self.totp: pyotp.TOTP | None = None
        self.used: set[int] = set()

    def call(self, server: Server, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        """One API request as this user (a fresh connection: the server may have been restarted)."""
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.request(method, path, json=body, params=params, headers=self.headers)

    def ok(self, server: Server, method: str, path: str, body: Any = None, **params: str) -> Any:
        """The JSON answer of a request that must succeed."""
        response = self.call(server, method, path, body, **params)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def sign_up(self, server: Server) -> None:
        """Register, log in and enable 2FA."""
        self.ok(server, "POST", "/api/v1/auth/register", {"email": self.email, "password": PASSWORD})
        login = self.ok(server, "POST", "/api/v1/auth/login", {"email": self.email, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {login['access_token']}"}
        setup = self.ok(server, "POST", "/api/v1/auth/2fa/enable")
        self.totp = pyotp.TOTP(setup["secret"])
        self.ok(server, "POST", "/api/v1/auth/2fa/verify", {"totp_code": self.code()})

    def code(self) -> str:
        """A TOTP code not used yet: the server accepts the previous, current and next 30 s step."""
        assert self.totp is not None
        now = int(time.time()) // 30
        step = next(s for s in (now, now + 1, now - 1) if s not in self.used)
        self.used.add(step)
        return self.totp.at(step * 30)

    def credit(self, server: Server, asset: str, amount: str) -> None:
        """Development credit."""
        self.ok(server, "POST", "/dev/credit", {"email": self.email, "asset": asset, "amount": amount})

    def withdraw(self, server: Server, asset: str, address: str, amount: str) -> dict[str, Any]:
        """Request a withdrawal with a fresh TOTP code; the created withdrawal."""
        body = {"asset": asset, "address": address, "amount": amount, "totp_code": self.code()}
        return dict(self.ok(server, "POST", "/api/v1/withdrawals", body))

    def get(self, server: Server, path: str, **params: str) -> Any:
        """GET an API path as this user."""
        return self.ok(server, "GET", f"/api/v1{path}", **params)

    def balance(self, server: Server, asset: str) -> tuple[str, str]:
        """(available, held)."""
        rows = {row["asset"]: row for row in self.get(server, "/balances")}
        row = rows.get(asset, {"available": "0", "held": "0"})
        return row["available"], row["held"]


def stored(data_dir: Path, withdrawal_id: str) -> dict[str, Any]:
    """The withdrawal row as the database holds it (read while no server runs, or alongside one)."""
    with sqlite3.connect(data_dir / "wcx.sqlite3") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM withdrawals WHERE id = ?", (withdrawal_id,)).fetchone()
    assert row is not None
    return dict(row)


def describe(row: dict[str, Any]) -> str:
    """A row for assertion messages."""
    return json.dumps({k: row[k] for k in ("state", "nonce", "tx_hash", "attempts", "last_error")})
