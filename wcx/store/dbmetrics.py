"""Database query metrics for the Database Query Performance dashboard, fed by SQLAlchemy events.

`db_query_duration_seconds` and `db_query_errors_total` by statement kind, and the connections the
process holds checked out of its pool. Every label value is created up front, so the series exist
(at zero) before the first query of their kind.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

OPERATIONS = ("select", "insert", "update", "delete", "other")
_STARTED = "wcx_query_started"

QUERY_SECONDS = Histogram(
    "db_query_duration_seconds",
    "Time of one SQL statement from the driver's cursor, by statement kind.",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
QUERY_ERRORS = Counter("db_query_errors_total", "SQL statements that raised, by kind.", ["operation"])
POOL_IN_USE = Gauge("db_pool_connections_in_use", "Database connections checked out of the pool.")
for _operation in OPERATIONS:
    QUERY_SECONDS.labels(_operation)
    QUERY_ERRORS.labels(_operation)


def operation_of(statement: str) -> str:
    """The statement's kind (its first keyword) as a bounded label value."""
    words = statement.lstrip().split(None, 1)
    verb = words[0].lower() if words else ""
    return verb if verb in OPERATIONS else "other"


def _before(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
    conn.info.setdefault(_STARTED, []).append(time.perf_counter())


def _after(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
    started = conn.info.get(_STARTED)
    if started:
        QUERY_SECONDS.labels(operation_of(statement)).observe(time.perf_counter() - started.pop())


def _error(context: Any) -> None:
    started = context.connection.info.get(_STARTED) if context.connection is not None else None
    if started:
        started.pop()
    QUERY_ERRORS.labels(operation_of(context.statement or "")).inc()


def _checkout(*_args: Any) -> None:
    POOL_IN_USE.inc()


def _checkin(*_args: Any) -> None:
    POOL_IN_USE.dec()


def instrument(sync: Engine) -> None:
    """Time every statement of `sync` (an engine, or an async engine's `sync_engine`) and track its pool."""
    event.listen(sync, "before_cursor_execute", _before)
    event.listen(sync, "after_cursor_execute", _after)
    event.listen(sync, "handle_error", _error)
    event.listen(sync.pool, "checkout", _checkout)
    event.listen(sync.pool, "checkin", _checkin)
