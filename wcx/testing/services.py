"""Loud handling of a missing test service: skip with a reason, or fail under WCX_REQUIRE_SERVICES=1."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import asyncpg  # type: ignore[import-untyped]
import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url


def missing_service(reason: str) -> NoReturn:
    """Skip the test loudly, or fail it when CI demands every service (WCX_REQUIRE_SERVICES=1)."""
    if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
        pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(f"!!! SKIPPING: {reason}")


POSTGRES_SERVER = os.environ.get("WCX_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The test PostgreSQL server's maintenance database; tests create their own databases beside it."""
REDIS_URL = os.environ.get("WCX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


@contextmanager
def postgres_database(*, create: bool = True) -> Iterator[str]:
    """URL of a fresh `wcx_test_<random>` database (created unless asked not to), dropped afterwards."""
    name = f"wcx_test_{secrets.token_hex(6)}"
    if create:
        try:
            asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            missing_service(f"PostgreSQL at {POSTGRES_SERVER} unreachable: {exc!r}")
    try:
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def server_services(kind: str) -> Iterator[dict[str, str]]:
    """A server's environment: SQLite and in-process bus/limits ("sqlite"), or a fresh PostgreSQL
    database and Redis ("postgresql+redis")."""
    if kind == "sqlite":
        yield {}
        return
    try:
        with Redis.from_url(REDIS_URL) as redis:
            redis.ping()
    except RedisError as exc:
        missing_service(f"Redis at {REDIS_URL} unreachable: {exc!r}")
    with postgres_database() as database:
        yield {"DATABASE_URL": database, "REDIS_URL": REDIS_URL}
