"""The gateway middleware: one span (only when tracing is configured), one access-log line, metrics."""

from __future__ import annotations

import json
import subprocess
import sys

from observability.test_tracing import receiver  # noqa: F401  (fixture)

SCRIPT = """
import asyncio, sys
from opentelemetry import trace
from wcx.api.app import GatewayMiddleware
from wcx.observability.logging import configure_logging
from wcx.observability.metrics import HTTP_REQUESTS
from wcx.observability.tracing import configure_tracing

configure_logging("INFO")
configure_tracing(sys.argv[1], service_name="wcx-gateway-test")


async def ping(scope, receive, send):
    scope["endpoint"], scope["path_params"] = ping, {"n": "7"}
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def main():
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/ping/7", "headers": [(b"x-request-id", b"req-1")]}
    await GatewayMiddleware(ping)(scope, receive, send)
    assert (b"x-request-id", b"req-1") in sent[0]["headers"], sent
    print(HTTP_REQUESTS.labels("GET", "/ping/{n}", "204")._value.get())


asyncio.run(main())
provider = trace.get_tracer_provider()
getattr(provider, "shutdown", lambda: None)()
"""


def _run(endpoint: str) -> tuple[float, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, endpoint], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (access,) = [line for line in lines if line.get("logger") == "wcx.access"]
    return float(result.stdout), access


def test_a_traced_request_exports_its_span_and_logs_its_trace_id(receiver) -> None:  # noqa: F811
    endpoint, bodies = receiver
    count, access = _run(endpoint)
    assert count == 1.0
    assert (access["request_id"], access["route"], access["status"]) == ("req-1", "/ping/{n}", 204)
    trace_id = str(access["trace_id"])
    assert len(trace_id) == 32
    body = b"".join(body for path, body in bodies if path == "/v1/traces")
    assert b"GET /ping/7" in body and b"/ping/{n}" in body and bytes.fromhex(trace_id) in body


def test_without_tracing_no_span_is_made_and_the_trace_id_is_empty(receiver) -> None:  # noqa: F811
    _, bodies = receiver
    count, access = _run("")
    assert count == 1.0
    assert (access["request_id"], access["trace_id"]) == ("req-1", "")
    assert bodies == []
