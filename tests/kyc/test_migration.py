"""Migration kyc_0001 creates exactly the tables `wcx.kyc.tables` declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from wcx.kyc.tables import KYC_TABLES
from wcx.testing.migrations import schema_differences

from .conftest import Database, run


def test_the_migration_matches_the_declared_tables(database: Database) -> None:
    assert run(schema_differences(database.url, {table.name for table in KYC_TABLES})) == []
