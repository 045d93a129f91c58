"""The periodic audit-chain check publishes `audit_chain_intact` for the AuditChainBroken alert."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY
from sqlalchemy import update

from wcx.store.audit_check import check_audit_chain
from wcx.store.schema import audit_events

from .conftest import Database, run
from .test_audit import _append, _execute


async def _check(database: Database) -> tuple[bool, int | None]:
    async with database.connect() as db:
        verdict = await check_audit_chain(db)
    return verdict.ok, verdict.broken_id


def test_intact_then_broken_chain_sets_the_gauge(database: Database) -> None:
    run(_append(database, 4))
    before = time.time()
    assert run(_check(database)) == (True, None)
    assert REGISTRY.get_sample_value("audit_chain_intact") == 1
    assert REGISTRY.get_sample_value("audit_chain_last_check_timestamp_seconds") >= before

    run(_execute(database, update(audit_events).where(audit_events.c.id == 3).values(actor="admin:evil")))
    ok, broken = run(_check(database))
    assert not ok and broken == 3
    assert REGISTRY.get_sample_value("audit_chain_intact") == 0
