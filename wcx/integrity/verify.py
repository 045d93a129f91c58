"""Data-integrity verification: journal, snapshots, SQL projection, ledger and audit chain.

The engine rebuilt from the journal is the source of truth; everything else must agree with it.
`verify_integrity` replays the journal from seq 1 (CRCs and seq continuity are checked by the reader
and the engine), compares every snapshot with the replay at its seq, compares the SQL projection at
the projector's checkpoint with the replayed state (balances from the ledger, open orders), checks
that the ledger is double entry (every asset sums to zero over all accounts) and walks the audit chain.

It only reads: it runs against a live exchange (the projection is read in one transaction at one
checkpoint) as well as against a restored backup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.engine import Engine, SnapshotError
from wcx.engine.state import EngineState
from wcx.journal import (
    JournalError,
    Record,
    list_snapshots,
    read_record_batches,
    read_snapshot,
)
from wcx.store.audit import verify_audit
from wcx.store.projector import CHECKPOINT
from wcx.store.schema import ledger_entries, orders, projector_checkpoints

MAX_LISTED = 5
"""Mismatches named in a failed check's detail (the count is always given)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One verified property: its name, whether it holds, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class IntegrityReport:
    """Every check, the seq the replay reached and the engine's state hash there."""

    checks: list[Check] = field(default_factory=list)
    last_seq: int = 0
    state_hash: str = ""

    @property
    def ok(self) -> bool:
        """Whether every check holds."""
        return all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record one check."""
        self.checks.append(Check(name, ok, detail))


@dataclass(slots=True)
class Projection:
    """What SQL says at one projector checkpoint: ledger-summed balances, open orders, asset totals."""

    checkpoint: int
    balances: dict[tuple[int, str], tuple[int, int]]
    open_orders: dict[int, tuple[int, str, int, int]]  # order id -> (account, symbol, price, remaining)
    asset_totals: dict[str, int]


async def read_projection(connection: AsyncConnection) -> Projection:
    """The projection at its checkpoint; call inside one transaction so rows and checkpoint agree."""
    checkpoint = (
        await connection.execute(
            select(projector_checkpoints.c.seq).where(projector_checkpoints.c.name == CHECKPOINT)
        )
    ).scalar() or 0
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    totals: dict[str, int] = defaultdict(int)
    # Summed here rather than in SQL: SQLite keeps amounts as exact decimal text, which SUM would not.
    rows = await connection.stream(
        select(
            ledger_entries.c.account_id,
            ledger_entries.c.asset,
            ledger_entries.c.available_delta,
            ledger_entries.c.held_delta,
        ).where(ledger_entries.c.seq <= checkpoint)
    )
    async for account, asset, available, held in rows:
        entry = sums[account, asset]
        entry[0] += available
        entry[1] += held
        totals[asset] += available + held
    open_rows = await connection.execute(
        select(
            orders.c.order_id,
            orders.c.account_id,
            orders.c.symbol,
            orders.c.price,
            orders.c.quantity,
            orders.c.filled,
        ).where(orders.c.status == "open")
    )
    open_orders = {
        order_id: (account, symbol, price, quantity - filled)
        for order_id, account, symbol, price, quantity, filled in open_rows
    }
    balances = {key: (entry[0], entry[1]) for key, entry in sums.items() if entry != [0, 0]}
    return Projection(checkpoint, balances, open_orders, dict(totals))


def engine_balances(state: EngineState) -> dict[tuple[int, str], tuple[int, int]]:
    """Every non-zero (available, held) of the engine, system accounts included."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for account_id, account in state.accounts.items():
        for asset in account.available.keys() | account.held.keys():
            pair = (account.available.get(asset, 0), account.held.get(asset, 0))
            if pair != (0, 0):
                out[account_id, asset] = pair
    return out


def engine_open_orders(state: EngineState) -> dict[int, tuple[int, str, int, int]]:
    """Every resting order as the projection keeps it: (account, symbol, price, remaining)."""
    return {
        order_id: (order.account, order.symbol, order.price, order.remaining)
        for order_id, order in state.orders.items()
    }


def _differences(expected: Mapping[Any, object], actual: Mapping[Any, object]) -> list[str]:
    keys = sorted(expected.keys() | actual.keys(), key=repr)
    return [
        f"{key}: engine {expected.get(key)} sql {actual.get(key)}"
        for key in keys
        if expected.get(key) != actual.get(key)
    ]


def _summary(differences: list[str]) -> str:
    shown = "; ".join(differences[:MAX_LISTED])
    more = f" (+{len(differences) - MAX_LISTED} more)" if len(differences) > MAX_LISTED else ""
    return f"{len(differences)} mismatches: {shown}{more}"


def compare_projection(report: IntegrityReport, state: EngineState, projection: Projection) -> None:
    """Balances and open orders in SQL equal the engine's at the projector's checkpoint."""
    at = f"at seq {projection.checkpoint}"
    balances = _differences(engine_balances(state), projection.balances)
    report.add(
        "projection: balances",
        not balances,
        f"{len(projection.balances)} balances agree {at}" if not balances else _summary(balances),
    )
    open_orders = _differences(engine_open_orders(state), projection.open_orders)
    report.add(
        "projection: open orders",
        not open_orders,
        f"{len(projection.open_orders)} open orders agree {at}" if not open_orders else _summary(open_orders),
    )


def check_double_entry(report: IntegrityReport, projection: Projection) -> None:
    """Per asset, the ledger's changes over every account (system ones included) sum to zero."""
    unbalanced = {asset: total for asset, total in projection.asset_totals.items() if total}
    report.add(
        "ledger: double entry",
        not unbalanced,
        f"{len(projection.asset_totals)} assets balance to zero"
        if not unbalanced
        else f"assets not summing to zero: {unbalanced}",
    )


class _Replay:
    """The journal replayed from seq 1, stoppable at any seq, checking snapshots on the way."""

    def __init__(self, data_dir: Path) -> None:
        self.engine = Engine()
        self._snapshots = list_snapshots(data_dir)
        self._records = self._iter_records(data_dir)
        self._pending: Record | None = None
        self.applied = 0
        self.snapshot_mismatches: list[str] = []
        self.snapshots_checked = 0

    @staticmethod
    def _iter_records(data_dir: Path) -> Iterator[Record]:
        for batch in read_record_batches(data_dir, 1, repair=False):
            yield from batch

    def _check_snapshots(self) -> None:
        seq = self.engine.state.last_seq
        while self._snapshots and self._snapshots[0][0] <= seq:
            snapshot_seq, path = self._snapshots.pop(0)
            if snapshot_seq < seq:
                self.snapshot_mismatches.append(f"{path.name}: seq {snapshot_seq} is not in the journal")
                continue
            self.snapshots_checked += 1
            try:
                restored = read_snapshot(snapshot_seq, path)
            except SnapshotError as exc:
                self.snapshot_mismatches.append(f"{path.name}: {exc}")
                continue
            if restored.state_hash() != self.engine.state_hash():
                self.snapshot_mismatches.append(f"{path.name}: state hash differs from the replay at {seq}")

    def advance(self, to_seq: int | None) -> None:
        """Apply records up to and including `to_seq` (None: to the end); call again to go further."""
        apply = self.engine.apply
        self._check_snapshots()
        while True:
            record = self._pending or next(self._records, None)
            if record is None:
                return
            seq, ts, command = record
            if to_seq is not None and seq > to_seq:
                self._pending = record  # the first record past the stop, applied by the next call
                return
            self._pending = None
            apply(seq, ts, command)
            self.applied += 1
            if self._snapshots and self._snapshots[0][0] <= seq:
                self._check_snapshots()


async def verify_integrity(
    data_dir: Path, db: AsyncEngine | None, *, to_seq: int | None = None
) -> IntegrityReport:
    """Run every check; `to_seq` replays only that far (point in time) and skips the SQL comparison."""
    report = IntegrityReport()
    replay = _Replay(data_dir)
    projection: Projection | None = None
    try:
        if db is not None:
            async with db.connect() as connection, connection.begin():
                projection = await read_projection(connection)
                audit = await verify_audit(connection)
            report.add(
                "audit: hash chain",
                audit.ok,
                f"{audit.checked} records chained"
                if audit.ok
                else f"broken at record {audit.broken_id}: {audit.reason}",
            )
            check_double_entry(report, projection)
        if projection is not None and (to_seq is None or projection.checkpoint <= to_seq):
            replay.advance(projection.checkpoint)
            if replay.engine.state.last_seq < projection.checkpoint:
                report.add(
                    "projection: checkpoint",
                    False,
                    f"SQL is projected to seq {projection.checkpoint}, "
                    f"the journal ends at {replay.engine.state.last_seq}",
                )
            else:
                compare_projection(report, replay.engine.state, projection)
            replay.advance(to_seq)
        else:
            replay.advance(to_seq)
        journal_ok, journal_detail = True, f"{replay.applied} records, seq 1..{replay.engine.state.last_seq}"
    except (JournalError, ValueError) as exc:  # corrupt frames, gaps (the engine refuses them), bad codecs
        journal_ok, journal_detail = False, f"{type(exc).__name__}: {exc}"
    report.checks.insert(0, Check("journal: frames and continuity", journal_ok, journal_detail))
    if to_seq is not None and journal_ok and replay.engine.state.last_seq < to_seq:
        ends = replay.engine.state.last_seq
        report.add("journal: point in time", False, f"seq {to_seq} asked, the journal ends at {ends}")
    report.add(
        "snapshots: equal to the replay",
        not replay.snapshot_mismatches,
        f"{replay.snapshots_checked} snapshots match"
        if not replay.snapshot_mismatches
        else _summary(replay.snapshot_mismatches),
    )
    report.last_seq = replay.engine.state.last_seq
    report.state_hash = replay.engine.state_hash()
    return report
