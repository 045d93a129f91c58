"""A real `wcx serve` process for black-box tests: free loopback ports, readiness wait, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wcx.runtime import read_lock_info

START_TIMEOUT_S = 90.0  # generous: CI machines can be loaded, and a start also migrates the database


@dataclass
class Server:
    """One `wcx serve` process over a data directory that outlives it."""

    data_dir: Path
    services: dict[str, str] = field(default_factory=dict)
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment of the server and of `wcx dev credit`."""
        return {
            **os.environ,
            "WCX_ENV": "development",
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "JWT_SECRET": "blackbox-jwt-secret-" + "j" * 32,
            "REFRESH_SECRET": "blackbox-refresh-secret-" + "r" * 32,
            "LOG_LEVEL": "WARNING",
            **self.services,
        }

    def start(self, *options: str) -> None:
        """Start the process on free ports and wait until /readyz says ready."""
        command = [sys.executable, "-m", "wcx", "serve", *options, "--port", "0", "--admin-port", "0"]
        with (self.data_dir.parent / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.data_dir.parent, stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            # The server records the address it listens on in its data directory lock file.
            self.url = read_lock_info(self.data_dir).get("api", "")
            try:
                if self.url and httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {START_TIMEOUT_S}s\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM and wait for a clean exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=30) == 0, self.log_tail()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is, no clean-up of any kind runs (crash tests)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=30) == -signal.SIGKILL
        self.process = None

    def log_tail(self) -> str:
        """The end of the server's output, for failure messages."""
        return (self.data_dir.parent / "server.log").read_text(errors="replace")[-4000:]

    def dev_credit(self, email: str, asset: str, amount: str) -> subprocess.CompletedProcess[str]:
        """Run `wcx dev credit` as a separate process."""
        command = [sys.executable, "-m", "wcx", "dev", "credit", "--email", email, "--asset", asset]
        return subprocess.run(
            [*command, "--amount", amount],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
