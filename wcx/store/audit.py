"""The audit trail: an append-only, hash-chained log of security events and admin actions.

Each row's `hash` is SHA-256 over its predecessor's hash and a canonical JSON form of its own fields
(id, time, actor, action, target, ip, details), so changing, inserting or deleting any row breaks the
chain at that row or the one after it. `record_audit` appends inside the caller's transaction (the
record commits or rolls back with the action it describes); writers are serialised so two concurrent
appends cannot both link to the same predecessor (a forked chain):

* PostgreSQL: a transaction-scoped advisory lock, held until the caller commits (under the default
  READ COMMITTED isolation the next statement then sees the previous appender's row).
* SQLite: the row is inserted first, which takes the database's single write lock for the rest of
  the transaction; only then is the predecessor read and the link written.

`verify_audit` walks the chain in id order and names the first record whose link does not hold.
Nothing in wcx updates or deletes audit rows; there is no endpoint that could.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.store.schema import audit_events

GENESIS = "0" * 64
"""The `prev_hash` of the first record."""
ADVISORY_LOCK = 0x77637861756469  # "wcxaudi": the PostgreSQL advisory lock key of the audit chain
VERIFY_BATCH = 2000


@dataclass(frozen=True, slots=True)
class AuditVerdict:
    """The outcome of `verify_audit`: OK, or the id of the first record whose link is broken and why."""

    ok: bool
    checked: int
    broken_id: int | None = None
    reason: str = ""


def _json_safe(value: Any) -> Any:
    """`value` as the JSON column will give it back (datetimes, decimals and the like as strings)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _utc(at: datetime) -> datetime:
    """`at` in UTC (naive values are taken as UTC: SQLite returns them so)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _time_text(at: datetime) -> str:
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_hash(
    *,
    prev_hash: str,
    record_id: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    ip: str | None,
    details: Any,
) -> str:
    """The SHA-256 (hex) linking one record to its predecessor."""
    body = {
        "id": record_id,
        "at": _time_text(at),
        "actor": actor,
        "action": action,
        "target": target,
        "ip": ip,
        "details": details,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


async def record_audit(
    conn: AsyncConnection,
    *,
    actor: str,
    action: str,
    target: str = "",
    ip: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    at: datetime,
) -> int:
    """Append one hash-chained audit record in the caller's transaction; returns its id."""
    details = _json_safe(
        {
            "before": dict(before) if before is not None else None,
            "after": dict(after) if after is not None else None,
        }
    )
    at = _utc(at)
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    # Placeholder link values (unique) until the predecessor is known; on SQLite this insert is what
    # takes the write lock that serialises appenders.
    placeholder = "pending-" + secrets.token_hex(24)
    record_id = (
        await conn.execute(
            insert(audit_events)
            .values(
                at=at,
                actor=actor,
                action=action,
                target=target,
                details=details,
                ip=ip,
                prev_hash=placeholder,
                hash=placeholder,
            )
            .returning(audit_events.c.id)
        )
    ).scalar_one()
    prev_hash = (
        await conn.execute(
            select(audit_events.c.hash)
            .where(audit_events.c.id < record_id)
            .order_by(audit_events.c.id.desc())
            .limit(1)
        )
    ).scalar()
    prev_hash = prev_hash or GENESIS
    digest = record_hash(
        prev_hash=prev_hash,
        record_id=record_id,
        at=at,
        actor=actor,
        action=action,
        target=target,
        ip=ip,
        details=details,
    )
    await conn.execute(
        update(audit_events).where(audit_events.c.id == record_id).values(prev_hash=prev_hash, hash=digest)
    )
    return int(record_id)


async def verify_audit(conn: AsyncConnection) -> AuditVerdict:
    """Walk the chain in id order; the first record whose stored link or hash does not hold breaks it."""
    prev_hash = GENESIS
    last_id = 0
    checked = 0
    while True:
        rows = (
            await conn.execute(
                select(audit_events)
                .where(audit_events.c.id > last_id)
                .order_by(audit_events.c.id)
                .limit(VERIFY_BATCH)
            )
        ).all()
        if not rows:
            return AuditVerdict(ok=True, checked=checked)
        for row in rows:
            if row.prev_hash != prev_hash:
                reason = "prev_hash does not match the preceding record (a record changed, removed or added)"
                return AuditVerdict(ok=False, checked=checked, broken_id=row.id, reason=reason)
            expected = record_hash(
                prev_hash=prev_hash,
                record_id=row.id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                ip=row.ip,
                details=row.details,
            )
            if row.hash != expected:
                reason = "hash does not match the record's contents (the record was altered)"
                return AuditVerdict(ok=False, checked=checked, broken_id=row.id, reason=reason)
            prev_hash = row.hash
            last_id = row.id
            checked += 1


async def audit_count(conn: AsyncConnection) -> int:
    """How many audit records exist."""
    return int((await conn.execute(select(func.count()).select_from(audit_events))).scalar_one())
