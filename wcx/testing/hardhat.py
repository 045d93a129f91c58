"""A `hardhat node` JSON-RPC server on 127.0.0.1 for HTTP integration tests against a real EVM.

Hardhat is installed from npm into a cache directory outside the repository (`WCX_HARDHAT_DIR`,
default `~/.cache/wcx-hardhat`) the first time it is needed; Node.js and npm must be on PATH
(`.ci/setup.d/node.sh` installs them in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

HARDHAT_VERSION = "2.28.6"
START_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 600.0
CONFIG = "module.exports = { networks: { hardhat: { chainId: 31337 } } };\n"


class HardhatUnavailableError(RuntimeError):
    """Node.js/npm are missing or hardhat could not be installed; the message says which."""


def hardhat_dir() -> Path:
    """Where hardhat is installed (a small npm project of its own)."""
    return Path(os.environ.get("WCX_HARDHAT_DIR", Path.home() / ".cache" / "wcx-hardhat"))


def ensure_installed() -> Path:
    """The hardhat project directory with hardhat installed (npm install on first use)."""
    home = hardhat_dir()
    binary = home / "node_modules" / ".bin" / "hardhat"
    package = home / "node_modules" / "hardhat" / "package.json"
    installed = package.exists() and json.loads(package.read_text())["version"] == HARDHAT_VERSION
    if not installed:
        if shutil.which("npm") is None or shutil.which("node") is None:
            raise HardhatUnavailableError("node and npm are not installed (see .ci/setup.d/node.sh)")
        home.mkdir(parents=True, exist_ok=True)
        (home / "package.json").write_text('{"name": "wcx-hardhat", "private": true}\n')
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"hardhat@{HARDHAT_VERSION}"],
            cwd=home,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0 or not binary.exists():
            raise HardhatUnavailableError(f"npm install hardhat failed: {result.stderr[-2000:]}")
    (home / "hardhat.config.js").write_text(CONFIG)
    return home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HardhatNode:
    """`hardhat node` on a free loopback port; `url` is its JSON-RPC endpoint once started."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = b""

    def start(self) -> HardhatNode:
        """Install if needed, start, and wait until `eth_blockNumber` answers."""
        home = ensure_installed()
        port = _free_port()
        env = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
        self._process = subprocess.Popen(
            [
                str(home / "node_modules" / ".bin" / "hardhat"),
                "node",
                "--hostname",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=home,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise HardhatUnavailableError(f"hardhat node exited: {self._process.stderr.read()!r}")  # type: ignore[union-attr]
            if self._answers():
                return self
            time.sleep(0.2)
        self.stop()
        raise HardhatUnavailableError(f"hardhat node not answering on {self.url} after {START_TIMEOUT_S}s")

    def _answers(self) -> bool:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return "result" in json.loads(response.read())
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the node."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
