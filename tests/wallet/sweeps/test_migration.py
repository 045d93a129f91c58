"""Migration sweeps_0001 creates exactly the tables `wcx.wallet.sweeps.tables` declares."""

from __future__ import annotations

from store.conftest import Database, database, postgres_database, run

from wcx.testing.migrations import schema_differences
from wcx.wallet.sweeps.tables import wallet_sweep_inputs, wallet_sweeps

__all__ = ["database", "postgres_database"]


def test_the_migration_matches_the_declared_tables(database: Database) -> None:
    names = {wallet_sweeps.name, wallet_sweep_inputs.name}
    assert run(schema_differences(database.url, names)) == []
