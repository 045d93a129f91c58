"""Smoke run of `wcx bench api`: a real server, tiny phases; figures are produced, never judged by speed."""

from __future__ import annotations

from wcx.simulator.api_bench import BenchOptions, run_api_bench


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
    assert figures["phases"]["paced"]["answers"].get("place 201", 0) > 0
    assert figures["floor_requests_per_s"] > 0
    assert figures["ws_subscribers"] == 10
    assert figures["phases"]["websocket"]["diffs_received"] > 0
    assert figures["ws_gaps"] == 0 and figures["ws_drops"] == 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
    assert all(figures["phases"][name]["server_cpu_us_per_request"] > 0 for name in ("throughput", "floor"))
