"""Prometheus metrics; the names are a contract with the dashboards and alerts (design.md §4).

Metrics live in the process-wide default registry, created once at import, so several apps in one
process (tests, API + admin listeners) share them instead of registering twins.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

# Durable acknowledgement takes one group commit (an fsync): sub-millisecond to tens of milliseconds.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

ORDER_PROCESSING_SECONDS = Histogram(
    "trading_engine_order_processing_duration_seconds",
    "Time from submitting an order command to the sequencer to its durable acknowledgement.",
    buckets=_LATENCY_BUCKETS,
)
ORDERS_PROCESSED = Counter(
    "trading_engine_orders_processed_total",
    "Order commands acknowledged by the engine, by outcome.",
    ["outcome"],
)
ENGINE_REQUESTS = Counter(
    "trading_engine_requests_total",
    "Commands submitted to the sequencer, by command kind.",
    ["command"],
)
ENGINE_ERRORS = Counter(
    "trading_engine_errors_total",
    "Commands the engine rejected, by rejection code (and sequencer failures as 'sequencer_failed').",
    ["code"],
)
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request handling time, by method and route template.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)

JOURNAL_FSYNC_SECONDS = Histogram(
    "journal_fsync_duration_seconds",
    "Time of one journal group-commit fdatasync (local file journal): every acknowledgement waits for it.",
    buckets=_LATENCY_BUCKETS,
)
AUDIT_CHAIN_INTACT = Gauge(
    "audit_chain_intact",
    "1 when the last walk of the audit hash chain found every link intact, 0 when a record is broken.",
)
AUDIT_CHAIN_CHECKED_AT = Gauge(
    "audit_chain_last_check_timestamp_seconds",
    "Unix time of the last completed walk of the audit hash chain.",
)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text of every registered metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
