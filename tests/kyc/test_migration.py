"""Migration kyc_0001 creates exactly the tables `wcx.kyc.tables` declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from wcx.kyc.tables import KYC_TABLES
from wcx.store.schema import metadata

from .conftest import Database, run


def test_the_migration_matches_the_declared_tables(database: Database) -> None:
    assert {t.name for t in KYC_TABLES} <= set(metadata.tables)
    kyc_names = {t.name for t in KYC_TABLES}

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": lambda name, kind, _parent: kind != "table" or name in kyc_names,
                "include_object": lambda obj, name, kind, _reflected, _other: (
                    name in kyc_names if kind == "table" else obj.table.name in kyc_names
                ),
                "compare_type": True,
            },
        )
        return list(compare_metadata(context, metadata))

    async def go() -> list[Any]:
        async with database.connect() as db, db.connect() as connection:
            return await connection.run_sync(differences)

    assert run(go()) == []
