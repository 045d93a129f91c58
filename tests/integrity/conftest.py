"""The store tests' databases (SQLite and PostgreSQL) and seeded command streams, shared here."""

from __future__ import annotations

from store.conftest import database as database  # noqa: PLC0414 - re-exported fixtures
from store.conftest import postgres_database as postgres_database  # noqa: PLC0414
