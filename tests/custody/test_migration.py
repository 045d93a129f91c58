"""Migration custody_0001 creates exactly the tables `wcx.custody.tables` declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from wcx.custody.tables import por_leaves, por_reserves, por_roots, por_rounds
from wcx.testing.migrations import schema_differences

from .conftest import Database, run


def test_the_migration_matches_the_declared_tables(database: Database) -> None:
    names = {table.name for table in (por_rounds, por_roots, por_leaves, por_reserves)}
    assert run(schema_differences(database.url, names)) == []
