"""Smoke run of `wcx bench api`: a real server, tiny phases; figures are produced, never judged by speed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from wcx.simulator.api_bench import BenchOptions, ServerProcess, run_api_bench


def test_a_tiny_run_acknowledges_orders_and_delivers_book_diffs() -> None:
    options = BenchOptions(
        seconds=0.5,
        clients=4,
        paced_rate=100.0,
        paced_connections=4,
        ws_subscribers=10,
        ws_procs=1,
        ws_rate=20.0,
        users=1,
        keys_per_user=4,
    )
    figures = run_api_bench(options)
    assert figures["orders_per_s"] > 0
    assert figures["phases"]["throughput"]["answers"].get("place 201", 0) > 0
    # The WebSocket API loop places and cancels too: its placements answer 200, resting ones are cancelled.
    ws_api = figures["phases"]["ws_api"]["answers"]
    assert ws_api.get("place 200", 0) > 0 and ws_api.get("cancel 200", 0) > 0
    assert figures["ws_api_orders_per_s"] > 0
    assert figures["phases"]["paced"]["answers"].get("place 201", 0) > 0
    assert figures["floor_requests_per_s"] > 0
    assert figures["ws_subscribers"] == 10
    assert figures["phases"]["websocket"]["diffs_received"] > 0
    assert figures["ws_gaps"] == 0 and figures["ws_drops"] == 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    loops = ("throughput", "ws_api", "floor")
    assert all(figures["phases"][name]["server_cpu_us_per_request"] > 0 for name in loops)


def test_server_cpu_counts_its_child_processes(tmp_path: Path) -> None:
    # A parent that idles while its child burns CPU: the projector process is such a child.
    burn = "import time; end = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    script = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {burn!r}])\n"
    script += "time.sleep(30)"
    server = ServerProcess(tmp_path)
    server.process = subprocess.Popen([sys.executable, "-c", script])
    try:
        time.sleep(1.5)
        assert server.cpu_seconds() >= 0.45
    finally:
        server.process.kill()
        server.process.wait()
