"""Run Alembic migrations programmatically (at start-up and by `wcx migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at wcx's migrations, optionally bound to a live connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Bring the database to `revision` (idempotent); by default every branch head.

    Each bounded context (kyc, admin, wallet, …) keeps its own migration branch off the initial
    revision, so contexts evolve their tables independently.
    """

    def _run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revisions the database is at (one per branch head, comma-separated), or None before the first."""
    from alembic.runtime.migration import MigrationContext

    def _read(connection: Connection) -> str | None:
        heads = MigrationContext.configure(connection).get_current_heads()
        return ", ".join(sorted(heads)) or None

    async with engine.connect() as connection:
        return await connection.run_sync(_read)
