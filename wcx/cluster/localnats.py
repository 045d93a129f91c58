"""Local nats-server processes with JetStream for development, tests and `wcx bench cluster`.

One server, or a cluster of several with routes between them on loopback, each with its own store
directory. Production runs NATS however it is operated there; this only starts the binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NATS_SERVER_PATHS = ("/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server")


def nats_server_binary() -> str | None:
    """Path of the nats-server binary, or None when it is not installed."""
    found = shutil.which("nats-server")
    if found:
        return found
    return next((path for path in NATS_SERVER_PATHS if os.access(path, os.X_OK)), None)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsNode:
    """One nats-server process."""

    name: str
    port: int
    cluster_port: int
    store: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self, binary: str) -> None:
        """Start the process (after a kill it restarts on the same ports and store)."""
        handle = self.log.open("ab")
        self.process = subprocess.Popen([binary, "-c", str(self.config)], stdout=handle, stderr=handle)
        handle.close()

    def kill(self) -> None:
        """SIGKILL the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


class LocalNats:
    """`size` JetStream servers on loopback (a cluster with routes when size > 1)."""

    def __init__(self, root: Path, *, size: int = 1, binary: str | None = None) -> None:
        found = binary or nats_server_binary()
        if found is None:
            raise FileNotFoundError("nats-server is not installed (Debian package nats-server)")
        self.binary = found
        self.root = root
        self.nodes: list[NatsNode] = []
        for index in range(size):
            name = f"n{index + 1}"
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                NatsNode(
                    name, free_port(), free_port(), folder / "store", folder / "nats.conf", log=folder / "log"
                )
            )
        for node in self.nodes:
            node.config.write_text(self._config(node), encoding="utf-8")

    def _config(self, node: NatsNode) -> str:
        lines = [
            f"server_name: {node.name}",
            f"listen: 127.0.0.1:{node.port}",
            f'jetstream {{ store_dir: "{node.store}", max_memory_store: 256MB, max_file_store: 2GB }}',
        ]
        if len(self.nodes) > 1:
            routes = ", ".join(f"nats-route://127.0.0.1:{other.cluster_port}" for other in self.nodes)
            lines.append(
                f"cluster {{ name: wcxtest, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}"
            )
        return "\n".join(lines) + "\n"

    @property
    def url(self) -> str:
        """JOURNAL_URL naming every server."""
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 20.0) -> None:
        """Start every server and wait until each accepts connections."""
        for node in self.nodes:
            node.start(self.binary)
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", node.port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"nats-server {node.name} did not start: {node.log.read_text()}"
                        ) from None
                    time.sleep(0.05)

    def stop(self) -> None:
        """Stop every server."""
        for node in self.nodes:
            node.stop()
