"""Rows of the withdrawals table: the read model and the one guarded way to change a row's state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Row, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.engine import Command, Engine, Event
from wcx.wallet.withdrawals.errors import WithdrawalError
from wcx.wallet.withdrawals.states import State, can_move
from wcx.wallet.withdrawals.tables import withdrawal_approvals, withdrawals


class Ledger(Protocol):
    """What the pipeline needs of the running exchange (`wcx.runtime.Runtime` fits)."""

    async def submit(self, command: Command) -> list[Event]:
        """Sequence one command and return its durable events."""
        ...

    @property
    def engine(self) -> Engine:
        """The live engine (read only)."""
        ...


Clock = Callable[[], datetime]
Submit = Callable[[Command], Awaitable[list[Event]]]


def utc_now() -> datetime:
    """The wall clock as an aware UTC datetime."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were written as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sending:
    """What the chain steps recorded on a payout: the sender, its nonce, the newest signed transaction
    and how far it got."""

    from_address: str | None
    nonce: int | None
    raw_tx: str | None
    tx_hash: str | None
    confirmations: int
    attempts: int
    last_error: str
    broadcast_height: int | None


def sending_values(m: Any) -> dict[str, Any]:
    """The `Sending` fields of a row mapping (withdrawals and transfers share the columns)."""
    return {
        "from_address": m["from_address"],
        "nonce": None if m["nonce"] is None else int(m["nonce"]),
        "raw_tx": m["raw_tx"],
        "tx_hash": m["tx_hash"],
        "confirmations": int(m["confirmations"]),
        "attempts": int(m["attempts"]),
        "last_error": m["last_error"],
        "broadcast_height": None if m["broadcast_height"] is None else int(m["broadcast_height"]),
    }


@dataclass(frozen=True, slots=True)
class Withdrawal(Sending):
    """One withdrawal as the pipeline, its owner and the back office see it."""

    id: str
    user_id: int
    asset: str
    chain: str
    address: str
    memo: str
    amount: int
    fee: int
    state: State
    reason: str
    approvals: int
    approvals_required: int
    created_at: datetime
    updated_at: datetime


class Payout(Protocol):
    """What the chain steps read of a record that sends coins from a hot wallet (a withdrawal, a
    hot-to-cold transfer)."""

    @property
    def id(self) -> Any:
        """The record's key in its table."""
        ...

    @property
    def chain(self) -> str:
        """The chain it travels on."""
        ...

    @property
    def asset(self) -> str:
        """What it sends."""
        ...

    @property
    def address(self) -> str:
        """Where it goes."""
        ...

    @property
    def amount(self) -> int:
        """How much arrives there (minor units)."""
        ...

    @property
    def state(self) -> State:
        """Its persisted state."""
        ...

    @property
    def nonce(self) -> int | None:
        """The hot wallet nonce it uses (Ethereum)."""
        ...

    @property
    def raw_tx(self) -> str | None:
        """The newest signed transaction (hex)."""
        ...

    @property
    def tx_hash(self) -> str | None:
        """That transaction's hash."""
        ...

    @property
    def confirmations(self) -> int:
        """Confirmations counted so far."""
        ...

    @property
    def last_error(self) -> str:
        """Why the last step failed, if it did."""
        ...

    @property
    def broadcast_height(self) -> int | None:
        """The chain tip when it was (last) sent (Bitcoin: fee bumping counts blocks from it)."""
        ...


async def guarded_move(
    conn: AsyncConnection, table: Table, key: Any, source: State, target: State, now: datetime, **values: Any
) -> None:
    """Persist `source` -> `target` (plus column `values`) on row `key` if it is still in `source`."""
    if not can_move(source, target):
        raise WithdrawalError(
            "conflict", "INVALID_STATE", f"a {source.value} record cannot become {target.value}"
        )
    result = await conn.execute(
        update(table)
        .where(table.c.id == key, table.c.state == source.value)
        .values(state=target.value, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise WithdrawalError("conflict", "STATE_CHANGED", "the record changed meanwhile; try again")


def _approvals_count() -> Any:
    return (
        select(func.count())
        .where(
            withdrawal_approvals.c.withdrawal_id == withdrawals.c.id,
            withdrawal_approvals.c.decision == "approve",
        )
        .scalar_subquery()
    )


def query() -> Any:
    """SELECT of withdrawals with their approval count."""
    return select(withdrawals, _approvals_count().label("approvals"))


def from_row(row: Row[Any]) -> Withdrawal:
    """A Withdrawal from a row of `query()`."""
    m = row._mapping
    return Withdrawal(
        id=m["id"],
        user_id=int(m["user_id"]),
        asset=m["asset"],
        chain=m["chain"],
        address=m["address"],
        memo=m["memo"],
        amount=m["amount"],
        fee=m["fee"],
        state=State(m["state"]),
        reason=m["reason"],
        approvals=int(m["approvals"]),
        approvals_required=int(m["approvals_required"]),
        created_at=aware(m["created_at"]),
        updated_at=aware(m["updated_at"]),
        **sending_values(m),
    )


async def load(conn: AsyncConnection, withdrawal_id: str) -> Withdrawal | None:
    """The withdrawal with this id, if any."""
    row = (await conn.execute(query().where(withdrawals.c.id == withdrawal_id))).first()
    return None if row is None else from_row(row)


async def move(
    conn: AsyncConnection, withdrawal: Withdrawal, target: State, now: datetime, **values: Any
) -> Withdrawal:
    """Persist `withdrawal` -> `target` (plus column `values`) only if nobody moved it meanwhile."""
    await guarded_move(conn, withdrawals, withdrawal.id, withdrawal.state, target, now, **values)
    moved = await load(conn, withdrawal.id)
    assert moved is not None
    return moved
