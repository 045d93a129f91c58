"""Does a context's Alembic migration create exactly the tables its module declares?"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from wcx.store.db import create_engine
from wcx.store.schema import metadata


async def schema_differences(url: str, tables: Collection[str]) -> list[Any]:
    """Alembic's differences between the migrated database at `url` and the metadata, for `tables` only."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": lambda name, kind, _parent: kind != "table" or name in tables,
                "include_object": lambda obj, name, kind, _reflected, _other: (
                    name in tables if kind == "table" else obj.table.name in tables
                ),
                "compare_type": True,
            },
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()
