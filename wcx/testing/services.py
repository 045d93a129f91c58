"""Loud handling of a missing test service: skip with a reason, or fail under WCX_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
from typing import NoReturn

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url


def missing_service(reason: str) -> NoReturn:
    """Skip the test loudly, or fail it when CI demands every service (WCX_REQUIRE_SERVICES=1)."""
    if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
        pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(f"!!! SKIPPING: {reason}")


POSTGRES_SERVER = os.environ.get("WCX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The test PostgreSQL server's maintenance database; tests create their own databases beside it."""


async def postgres_admin(sql: str, server: str = POSTGRES_SERVER) -> None:
    """Run one administrative statement (CREATE / DROP DATABASE) on the test PostgreSQL server."""
    url = make_url(server)
    connection = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
