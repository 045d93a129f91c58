"""The audit chain as a metric: a periodic walk of the hash chain sets `audit_chain_intact`.

`wcx audit verify` answers an operator; this check lets the `AuditChainBroken` alert fire without one.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.observability.metrics import AUDIT_CHAIN_CHECKED_AT, AUDIT_CHAIN_INTACT
from wcx.store.audit import AuditVerdict, verify_audit

log = get_logger(__name__)

AUDIT_CHECK_INTERVAL_S = 300.0
"""Every five minutes: the alert fires within one interval of a record being altered."""


async def check_audit_chain(db: AsyncEngine) -> AuditVerdict:
    """Walk the chain once and publish the verdict (1 intact, 0 broken) with the time of the walk."""
    async with db.connect() as connection:
        verdict = await verify_audit(connection)
    AUDIT_CHAIN_INTACT.set(1 if verdict.ok else 0)
    AUDIT_CHAIN_CHECKED_AT.set(time.time())
    if not verdict.ok:
        log.error("audit chain broken", record=verdict.broken_id, reason=verdict.reason)
    return verdict


async def watch_audit_chain(db: AsyncEngine, interval_s: float = AUDIT_CHECK_INTERVAL_S) -> None:
    """Check the chain now and then every `interval_s` until cancelled; a failed walk is logged, not fatal."""
    while True:
        try:
            await check_audit_chain(db)
        except Exception as exc:  # a database hiccup must not stop the watch; the staleness alert covers it
            log.warning("audit chain check failed", error=str(exc))
        await asyncio.sleep(interval_s)
