"""The audit trail: hash-chained appends, serialised writers, tamper detection (`wcx audit verify`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from wcx.store.audit import GENESIS, record_audit, verify_audit
from wcx.store.schema import audit_events

from .conftest import Database, run

T = datetime(2027, 1, 15, 8, 0, 0, 123456, tzinfo=UTC)


async def _append(database: Database, count: int) -> None:
    async with database.connect() as db:
        for n in range(count):
            async with db.begin() as conn:
                await record_audit(
                    conn,
                    actor=f"admin:{n % 3}",
                    action="user.freeze" if n % 2 else "auth.login",
                    target=f"user:{n}",
                    ip="203.0.113.7" if n % 2 else None,
                    before={"frozen": False, "amount": "1.50000000"},
                    after={"frozen": True, "when": T + timedelta(seconds=n), "nested": {"b": 1, "a": [1, 2]}},
                    at=T + timedelta(seconds=n),
                )


async def _verdict(database: Database) -> tuple[bool, int, int | None]:
    async with database.connect() as db, db.connect() as conn:
        verdict = await verify_audit(conn)
    return verdict.ok, verdict.checked, verdict.broken_id


async def _ids(database: Database) -> list[int]:
    async with database.connect() as db, db.connect() as conn:
        return list((await conn.execute(select(audit_events.c.id).order_by(audit_events.c.id))).scalars())


async def _execute(database: Database, statement: object) -> None:
    async with database.connect() as db, db.begin() as conn:
        await conn.execute(statement)  # type: ignore[call-overload]


def test_an_untouched_chain_verifies_and_links_each_record_to_the_one_before(database: Database) -> None:
    assert run(_verdict(database)) == (True, 0, None)
    run(_append(database, 7))
    assert run(_verdict(database)) == (True, 7, None)

    async def rows() -> list[tuple[str, str, dict[str, object]]]:
        async with database.connect() as db, db.connect() as conn:
            result = await conn.execute(
                select(audit_events.c.prev_hash, audit_events.c.hash, audit_events.c.details).order_by(
                    audit_events.c.id
                )
            )
            return [tuple(row) for row in result]  # type: ignore[misc]

    chain = run(rows())
    assert chain[0][0] == GENESIS
    assert all(chain[i][0] == chain[i - 1][1] for i in range(1, len(chain)))
    assert chain[1][2] == {
        "before": {"frozen": False, "amount": "1.50000000"},
        "after": {
            "frozen": True,
            "when": "2027-01-15 08:00:01.123456+00:00",
            "nested": {"b": 1, "a": [1, 2]},
        },
    }


def test_a_rolled_back_action_leaves_no_record_and_no_gap_in_the_chain(database: Database) -> None:
    run(_append(database, 2))

    async def rolled_back() -> None:
        async with database.connect() as db, db.connect() as conn:
            transaction = await conn.begin()
            await record_audit(conn, actor="admin:1", action="market.halt", target="BTC-USDT", at=T)
            await transaction.rollback()

    run(rolled_back())
    run(_append(database, 2))
    assert run(_verdict(database)) == (True, 4, None)


def test_concurrent_writers_cannot_fork_the_chain(database: Database) -> None:
    writers = 24

    async def race() -> None:
        async with database.connect() as db:

            async def one(n: int) -> None:
                async with db.begin() as conn:
                    await record_audit(conn, actor=f"user:{n}", action="auth.login", at=T)
                    await asyncio.sleep(0.01)  # hold the transaction open while others queue

            await asyncio.gather(*(one(n) for n in range(writers)))

    run(race())

    async def links() -> tuple[int, int]:
        async with database.connect() as db, db.connect() as conn:
            distinct = (
                await conn.execute(select(func.count(func.distinct(audit_events.c.prev_hash))))
            ).scalar()
            total = (await conn.execute(select(func.count()).select_from(audit_events))).scalar()
            return int(distinct or 0), int(total or 0)

    assert run(links()) == (writers, writers)
    assert run(_verdict(database)) == (True, writers, None)


@pytest.mark.parametrize(
    "column",
    ["actor", "action", "target", "ip", "details", "at", "hash", "prev_hash"],
)
def test_changing_one_byte_of_any_column_is_reported_at_that_record(database: Database, column: str) -> None:
    run(_append(database, 6))
    victim = run(_ids(database))[3]
    quoted = '"' + column + '"' if column != "at" else "at"
    if column == "details":
        # One character inside the stored JSON text: "1.50000000" becomes "1.50000001".
        sql = "UPDATE audit_events SET details = REPLACE(CAST(details AS TEXT), '1.50000000', '1.50000001')"
        if database.backend == "postgresql":
            sql += "::json"
    elif column == "at":
        sql = "UPDATE audit_events SET at = at + INTERVAL '1 microsecond'"
        if database.backend == "sqlite":
            sql = "UPDATE audit_events SET at = REPLACE(at, '.123456', '.123457')"
    else:
        # Flip the last character (ip of record 3 is NULL-free: odd records carry one).
        sql = (
            f"UPDATE audit_events SET {quoted} = SUBSTR({quoted}, 1, LENGTH({quoted}) - 1) || "
            f"CASE WHEN SUBSTR({quoted}, LENGTH({quoted}), 1) = '0' THEN '1' ELSE '0' END"
        )
    run(_execute(database, text(f"{sql} WHERE id = :id").bindparams(id=victim)))
    assert run(_verdict(database)) == (False, 3, victim)


def test_a_deleted_record_is_reported_at_its_successor(database: Database) -> None:
    run(_append(database, 5))
    ids = run(_ids(database))
    run(_execute(database, delete(audit_events).where(audit_events.c.id == ids[2])))
    assert run(_verdict(database)) == (False, 2, ids[3])


def test_a_rewritten_record_with_a_recomputed_own_hash_breaks_the_next_link(database: Database) -> None:
    """A forger who recomputes the altered record's hash still breaks its successor's prev_hash."""
    run(_append(database, 4))
    ids = run(_ids(database))

    async def forge() -> None:
        from wcx.store.audit import record_hash

        async with database.connect() as db, db.begin() as conn:
            row = (await conn.execute(select(audit_events).where(audit_events.c.id == ids[1]))).one()
            forged = record_hash(
                prev_hash=row.prev_hash,
                record_id=row.id,
                at=row.at,
                actor="someone-else",
                action=row.action,
                target=row.target,
                ip=row.ip,
                details=row.details,
            )
            await conn.execute(
                update(audit_events)
                .where(audit_events.c.id == row.id)
                .values(actor="someone-else", hash=forged)
            )

    run(forge())
    assert run(_verdict(database)) == (False, 2, ids[2])


def test_wcx_audit_verify_names_the_tampered_record(database: Database, tmp_path: Path) -> None:
    run(_append(database, 5))
    environment = {**os.environ, "DATABASE_URL": database.url, "DATA_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "wcx", "audit", "verify"]
    good = subprocess.run(
        command, check=False, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "audit chain OK: 5 records"

    victim = run(_ids(database))[2]
    run(_execute(database, update(audit_events).where(audit_events.c.id == victim).values(target="user:X")))
    bad = subprocess.run(
        command, check=False, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1, bad.stderr
    assert f"BROKEN at record {victim} " in bad.stdout
