"""Black-box helpers: the real `wcx serve` process with a SoftHSM hot wallet on a local EVM over HTTP,
and a user driving it through the HTTP API (register, 2FA, dev credit, withdraw)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp

from wcx.runtime import read_lock_info
from wcx.testing.softhsm import USER_PIN, SoftHsm

T = TypeVar("T")
PASSWORD = "correct horse battery"
START_TIMEOUT_S = 60


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Server:
    """One `wcx serve` process over `data_dir`; killed with SIGKILL or stopped with SIGTERM."""

    def __init__(self, data_dir: Path, rpc_url: str, token: str, softhsm: SoftHsm, hsm_token: str) -> None:
        env = {
            **softhsm.env(),
            "WCX_ENV": "development",
            "DATA_DIR": str(data_dir),
            "LOG_LEVEL": "INFO",
            "ETH_RPC_URL": rpc_url,
            "USDT_CONTRACT": token,
            "DEPOSIT_WATCHERS": "false",
            "WALLET_SIGNER": "pkcs11",
            "PKCS11_MODULE": softhsm.module,
            "HSM_TOKEN_LABEL": hsm_token,
            "HSM_KEY_LABEL": "hot",
            "HSM_PIN": USER_PIN,
            "WITHDRAWAL_POLL_S": "0.1",
        }
        self.data_dir = data_dir
        self.log = (data_dir.parent / "serve.log").open("ab")
        command = [sys.executable, "-m", "wcx", "serve", "--port", "0", "--admin-port", "0"]
        self.process = subprocess.Popen(
            command, cwd=data_dir.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = wait_for(self._ready, "wcx serve to answer /readyz", START_TIMEOUT_S)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _ready(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"wcx serve exited with {self.process.returncode}: see serve.log")
        url = read_lock_info(self.data_dir).get("api")
        if not url:
            return None
        try:
            ok = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return None
        return str(url) if ok else None

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        self.http.close()
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(30) == -signal.SIGKILL
        self.log.close()

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0
        self.log.close()


class Customer:
    """A user of a running server: signs up, turns 2FA on, gets dev credit, withdraws."""

    def __init__(self, email: str) -> None:
        self.email = email
        self.headers: dict[str, str] = {}
        self.totp: pyotp.TOTP | None = None
        self.step = 0

    def sign_up(self, server: Server) -> None:
        """Register, log in and enable 2FA."""
        http = server.http
        http.post(
            "/api/v1/auth/register", json={"email": self.email, "password": PASSWORD}
        ).raise_for_status()
        login = http.post("/api/v1/auth/login", json={"email": self.email, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}
        setup = http.post("/api/v1/auth/2fa/enable", headers=self.headers).raise_for_status().json()
        self.totp = pyotp.TOTP(setup["secret"])
        http.post(
            "/api/v1/auth/2fa/verify", json={"totp_code": self.code()}, headers=self.headers
        ).raise_for_status()

    def code(self) -> str:
        """A TOTP code not used yet (this step, then the next: the server accepts one step of drift)."""
        assert self.totp is not None and self.step < 2, "one code per 30 s step, two steps at most"
        self.step += 1
        return self.totp.at(time.time() + 30 * (self.step - 1))

    def credit(self, server: Server, asset: str, amount: str) -> None:
        """Development credit."""
        body = {"email": self.email, "asset": asset, "amount": amount}
        server.http.post("/dev/credit", json=body).raise_for_status()

    def withdraw(self, server: Server, asset: str, address: str, amount: str) -> dict[str, Any]:
        """Request a withdrawal with a fresh TOTP code; the created withdrawal."""
        body = {"asset": asset, "address": address, "amount": amount, "totp_code": self.code()}
        response = server.http.post("/api/v1/withdrawals", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def get(self, server: Server, path: str) -> Any:
        """GET an API path as this user."""
        return server.http.get(f"/api/v1{path}", headers=self.headers).raise_for_status().json()

    def balance(self, server: Server, asset: str) -> tuple[str, str]:
        """(available, held)."""
        rows = {row["asset"]: row for row in self.get(server, "/balances")}
        return rows[asset]["available"], rows[asset]["held"]


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
