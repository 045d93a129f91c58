"""Spans reach an OTLP/HTTP receiver when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

SCRIPT = """
import sys
from opentelemetry import trace
from wcx.observability.tracing import configure_tracing, current_trace_id, tracer
assert configure_tracing(sys.argv[1], service_name="wcx-test") is True
with tracer.start_as_current_span("order.place"):
    print(current_trace_id())
trace.get_tracer_provider().shutdown()  # flushes the batch processor
"""


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Receiver.bodies
    server.shutdown()
    server.server_close()


def test_spans_are_exported_over_otlp_http(receiver: tuple[str, list[tuple[str, bytes]]]) -> None:
    endpoint, bodies = receiver
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, endpoint], capture_output=True, text=True, timeout=60, check=True
    )
    trace_id = result.stdout.strip()
    assert len(trace_id) == 32
    assert [path for path, _ in bodies] == ["/v1/traces"]
    body = bodies[0][1]
    assert b"order.place" in body
    assert b"wcx-test" in body
    assert bytes.fromhex(trace_id) in body
