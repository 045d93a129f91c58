"""Reading the audit trail: search by actor, action, target and time, newest first, and chain checks.

There is deliberately no function here (or anywhere) that changes or deletes an audit record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from wcx.admin.users import audit_row
from wcx.runtime import Runtime
from wcx.store.audit import verify_audit
from wcx.store.schema import audit_events

MAX_LIMIT = 500


async def search(
    runtime: Runtime,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Records matching every given filter (actor/target exact, action exact or `prefix.*`), newest first."""
    statement = select(audit_events).order_by(audit_events.c.id.desc()).limit(min(max(limit, 1), MAX_LIMIT))
    if actor:
        statement = statement.where(audit_events.c.actor == actor)
    if action:
        if action.endswith(".*"):
            statement = statement.where(audit_events.c.action.startswith(action[:-1], autoescape=True))
        else:
            statement = statement.where(audit_events.c.action == action)
    if target:
        statement = statement.where(audit_events.c.target == target)
    if since is not None:
        statement = statement.where(audit_events.c.at >= since)
    if until is not None:
        statement = statement.where(audit_events.c.at < until)
    if before_id is not None:
        statement = statement.where(audit_events.c.id < before_id)
    async with runtime.db.connect() as conn:
        return [audit_row(row) for row in await conn.execute(statement)]


async def verify(runtime: Runtime) -> dict[str, Any]:
    """The chain check `wcx audit verify` runs, as a dict."""
    async with runtime.db.connect() as conn:
        verdict = await verify_audit(conn)
    return {
        "ok": verdict.ok,
        "checked": verdict.checked,
        "broken_id": verdict.broken_id,
        "reason": verdict.reason,
    }
