"""Alembic environment: always runs on the connection `wcx.store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from wcx.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `wcx migrate` (wcx.store.migrate.upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
