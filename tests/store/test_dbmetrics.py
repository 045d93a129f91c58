"""Statements are timed by kind, failures counted, pool use tracked (Database Query Performance)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from wcx.store.db import create_engine
from wcx.store.dbmetrics import OPERATIONS, operation_of

from .conftest import run


def _sample(name: str, operation: str) -> float:
    return REGISTRY.get_sample_value(name, {"operation": operation}) or 0.0


def test_every_operation_series_exists_before_any_query() -> None:
    for operation in OPERATIONS:
        labels = {"operation": operation}
        assert REGISTRY.get_sample_value("db_query_duration_seconds_count", labels) is not None
        assert REGISTRY.get_sample_value("db_query_errors_total", labels) is not None


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", "select"),
        ("  insert into t values (1)", "insert"),
        ("WITH x AS (SELECT 1) SELECT", "other"),
    ],
)
def test_statement_kind(statement: str, kind: str) -> None:
    assert operation_of(statement) == kind


def test_queries_and_errors_are_counted_and_connections_returned(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    selects = _sample("db_query_duration_seconds_count", "select")
    errors = _sample("db_query_errors_total", "select")
    in_use = REGISTRY.get_sample_value("db_pool_connections_in_use") or 0.0

    async def work() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await conn.execute(text("SELECT 2"))
            with pytest.raises(OperationalError):
                await conn.execute(text("SELECT * FROM no_such_table"))
            assert REGISTRY.get_sample_value("db_pool_connections_in_use") == in_use + 1
        await engine.dispose()

    run(work())
    assert _sample("db_query_duration_seconds_count", "select") >= selects + 2
    assert _sample("db_query_errors_total", "select") == errors + 1
    assert REGISTRY.get_sample_value("db_pool_connections_in_use") == in_use
