"""Metrics (Prometheus), structured JSON logs (structlog) and tracing (OpenTelemetry)."""

from wcx.observability.logging import bind_request, configure_logging, get_logger
from wcx.observability.metrics import render_metrics
from wcx.observability.tracing import configure_tracing, current_trace_id, tracer

__all__ = [
    "bind_request",
    "configure_logging",
    "configure_tracing",
    "current_trace_id",
    "get_logger",
    "render_metrics",
    "tracer",
]
