"""The projector: ledger = engine balances, orders = engine open orders, exactly once, crash resume."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.engine import CancelOrder, CreditDeposit, Engine, PlaceOrder, Side
from wcx.engine.events import OrderFilled
from wcx.marketdata.candles import as_utc
from wcx.store.db import create_blocking_engine
from wcx.store.projector import ProjectionError, Projector
from wcx.store.schema import fills, ledger_entries, market_trades, orders, projector_checkpoints

from .conftest import Database, Journal, dump, exchange, project, rich_journal, run

BTC = 10**8
USDT = 10**6


async def ledger_balances(db: AsyncEngine) -> dict[tuple[int, str], tuple[int, int]]:
    """Σ available and held deltas per (account, asset)."""
    sums: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    async with db.connect() as connection:
        rows = await connection.execute(
            select(
                ledger_entries.c.account_id,
                ledger_entries.c.asset,
                ledger_entries.c.available_delta,
                ledger_entries.c.held_delta,
            )
        )
        for account, asset, available, held in rows:
            sums[account, asset][0] += available
            sums[account, asset][1] += held
    return {key: (a, h) for key, (a, h) in sums.items() if a or h}


def engine_balances(engine: Engine) -> dict[tuple[int, str], tuple[int, int]]:
    """(available, held) per (account, asset) from engine memory, zeros left out."""
    out = {}
    for account_id, account in engine.state.accounts.items():
        for asset in set(account.available) | set(account.held):
            balance = engine.state.balance(account_id, asset)
            if any(balance):
                out[account_id, asset] = balance
    return out


async def assert_engine_state(db: AsyncEngine, engine: Engine) -> None:
    """Ledger sums = engine balances; open orders rows = engine open orders."""
    assert await ledger_balances(db) == engine_balances(engine)
    async with db.connect() as connection:
        open_rows = {
            r.order_id: (r.account_id, r.price, r.quantity, r.filled, r.fee)
            for r in await connection.execute(select(orders).where(orders.c.status == "open"))
        }
    assert open_rows == {
        o.id: (o.account, o.price, o.quantity, o.filled, o.fee_paid) for o in engine.state.orders.values()
    }


async def assert_projection_matches(db: AsyncEngine, journal: Journal) -> None:
    """The engine's state, plus: trades and fills complete, order totals = Σ fills, checkpoint at the end."""
    await assert_engine_state(db, journal.engine)
    trades = [e for events in journal.events for e in events if isinstance(e, OrderFilled)]
    async with db.connect() as connection:
        fill_rows = list(await connection.execute(select(fills)))
        order_rows = list(await connection.execute(select(orders)))
        trade_count = len(list(await connection.execute(select(market_trades.c.trade_id))))
        checkpoint = await connection.scalar(select(projector_checkpoints.c.seq))
    assert trade_count == len(trades) and len(fill_rows) == 2 * len(trades)
    per_order: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for fill in fill_rows:
        per_order[fill.order_id][0] += fill.quantity
        per_order[fill.order_id][1] += fill.quote_quantity
        per_order[fill.order_id][2] += fill.fee
    assert {r.order_id: [r.filled, r.quote_filled, r.fee] for r in order_rows if r.filled} == dict(per_order)
    assert checkpoint == journal.records[-1][0]


def test_ledger_and_orders_equal_the_engine_after_a_seeded_stream(database: Database) -> None:
    journal = rich_journal()
    kinds = {type(e).__name__ for events in journal.events for e in events}
    # The stream exercises every balance-changing event (else the comparison proves less than it claims).
    assert kinds >= {
        "DepositCredited",
        "WithdrawalHeld",
        "WithdrawalSettled",
        "WithdrawalReleased",
        "BalanceAdjusted",
        "OrderAccepted",
        "OrderAmended",
        "OrderFilled",
        "OrderCancelled",
        "OrderExpired",
    }

    async def body() -> None:
        async with database.connect() as db:
            projector = Projector(db, batch_max=300)
            await projector.start()
            # Compare often: a wrong hold in the mirror heals at the order's next amend or cancel.
            lockstep, records, rng = Engine(), iter(journal.records), random.Random(4)
            for batch in journal.batches(seed=1):
                projector.on_events(batch)
                if rng.random() < 0.15:
                    await projector.flush()
                    for seq, ts, command in records:
                        lockstep.apply(seq, ts, command)
                        if seq == projector.checkpoint:
                            break
                    await assert_engine_state(db, lockstep)
            await projector.stop()
            assert projector.lag_seq == 0
            await assert_projection_matches(db, journal)
            async with db.connect() as connection:
                sums: dict[str, int] = defaultdict(int)
                for asset, available, held in await connection.execute(
                    select(
                        ledger_entries.c.asset, ledger_entries.c.available_delta, ledger_entries.c.held_delta
                    )
                ):
                    sums[asset] += available + held
            assert set(sums.values()) == {0}  # double entry: every asset nets to zero

    run(body())


def test_redelivered_events_change_nothing(database: Database) -> None:
    journal = rich_journal(400, seed=8)

    async def body() -> None:
        async with database.connect() as db:
            projector = Projector(db)
            await projector.start()
            batches = list(journal.batches(seed=2))
            for batch in batches:
                projector.on_events(batch)
            await projector.flush()
            before = await dump(db)
            for batch in (batches[-1], batches[len(batches) // 2], *batches):
                projector.on_events(batch)
            await projector.flush()
            await projector.stop()
            assert await dump(db) == before
            # A second projector on the same database starts from the checkpoint and writes nothing twice.
            again = Projector(db)
            await again.start(journal.records)
            for batch in batches:
                again.on_events(batch)
            await again.stop()
            assert await dump(db) == before

    run(body())


def test_crash_resume_equals_one_uninterrupted_run(database: Database) -> None:
    journal = rich_journal(1_200, seed=9)
    records = journal.records
    middle = len(records) // 2

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            uninterrupted = await dump(db)
            await database_reset(db)
            # First life: catches up a quarter of the journal, takes live events up to the middle, stops.
            first = Projector(db, batch_max=200)
            await first.start(records[: middle // 2])
            for batch in journal.batches(middle // 2, seed=3):
                first.on_events(batch)
                if batch[-1].seq >= middle:
                    break
            await first.stop()
            crashed_at = first.checkpoint
            assert crashed_at >= middle
            # Second life: from a snapshot engine before the checkpoint, replaying the rest of the journal.
            snapshot_seq = crashed_at - 100
            snapshot = Engine()
            for seq, ts, command in records[:snapshot_seq]:
                snapshot.apply(seq, ts, command)
            second = Projector(db, batch_max=150)
            assert await second.read_checkpoint() == crashed_at
            await second.start(records[snapshot_seq:], engine=Engine.restore(snapshot.snapshot()))
            await second.stop()
            assert await dump(db) == uninterrupted
            # Third life: from seq 1 with nothing new to do.
            third = Projector(db)
            await third.start(records)
            await third.stop()
            assert await dump(db) == uninterrupted
            await assert_projection_matches(db, journal)

    run(body())


async def database_reset(db: AsyncEngine) -> None:
    """Empty the projected tables (the checkpoint too)."""
    async with db.begin() as connection:
        for table in (orders, fills, ledger_entries, market_trades, projector_checkpoints):
            await connection.execute(table.delete())
        await connection.execute(orders.metadata.tables["candles"].delete())


def test_resume_needs_the_journal_up_to_the_checkpoint(database: Database) -> None:
    journal = rich_journal(100, seed=4)

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            with pytest.raises(ProjectionError, match="before checkpoint"):
                await Projector(db).start(journal.records[:-5])
            ahead = Engine()
            for seq, ts, command in journal.records:
                ahead.apply(seq, ts, command)
            journal.apply(CreditDeposit(1, "BTC", 1, "late"))
            with pytest.raises(ValueError, match="after checkpoint"):
                await Projector(db).catch_up([], engine=_after_one_more(ahead, journal))

    run(body())


def _after_one_more(engine: Engine, journal: Journal) -> Engine:
    seq, ts, command = journal.records[-1]
    engine.apply(seq, ts, command)
    return engine


def test_a_second_writer_is_detected(database: Database) -> None:
    journal = rich_journal(50, seed=6)

    async def body() -> None:
        async with database.connect() as db:
            first, second = Projector(db), Projector(db)
            await first.start()
            await second.start()
            first.on_events([e for events in journal.events for e in events])
            await first.stop()
            second.on_events([e for events in journal.events[:20] for e in events])
            with pytest.raises(ProjectionError, match="second projector"):
                await second.stop()

    run(body())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # asyncpg has no thread hand-offs to save
def test_a_blocking_writer_writes_the_same_rows(database: Database) -> None:
    journal = rich_journal(600, seed=14)

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal, batch_max=200)
            expected = await dump(db)
            await database_reset(db)
            writer = create_blocking_engine(database.url)
            assert writer is not None
            try:
                await project(db, journal, batch_max=200, writer=writer)
                assert await dump(db) == expected
                # The compare-and-set of the checkpoint holds on this path too.
                await database_reset(db)
                late = Projector(db, writer=writer)
                await late.start()
                async with db.begin() as connection:
                    await connection.execute(projector_checkpoints.update().values(seq=7))
                late.on_events(journal.events[0])
                with pytest.raises(ProjectionError, match="second projector"):
                    await late.stop()
            finally:
                writer.dispose()

    run(body())


@pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])
def test_the_checkpoint_moves_only_after_the_commit(database: Database, blocking: bool) -> None:
    journal = rich_journal(300, seed=15)
    writer = create_blocking_engine(database.url) if blocking else None
    if blocking and database.backend != "sqlite":
        assert writer is None  # asyncpg has no thread hand-offs to save
        assert create_blocking_engine("sqlite:///:memory:") is None  # another connection, another database
        return

    async def body() -> None:
        async with database.connect() as db:
            projector = Projector(db, batch_max=100, writer=writer)
            at_commit: list[int] = []
            # A reader that sees the checkpoint must find the rows it covers (read-your-writes).
            event.listen(
                writer or db.sync_engine, "commit", lambda _conn: at_commit.append(projector.checkpoint)
            )
            await projector.start()
            for batch in journal.batches(seed=3):
                projector.on_events(batch)
            await projector.stop()
            written = at_commit[1:]  # the first commit creates the checkpoint row
            assert len(written) >= 3 and written == sorted(written)
            assert written[-1] < projector.checkpoint == journal.records[-1][0]

    try:
        run(body())
    finally:
        if writer is not None:
            writer.dispose()


def test_lag_gauge_follows_the_queue(database: Database) -> None:
    journal = rich_journal(30, seed=3)

    async def body() -> None:
        async with database.connect() as db:
            projector = Projector(db)
            await projector.start()
            last = journal.records[-1][0]
            # Not yet run: the writer task only runs at the next await.
            projector.on_events([e for events in journal.events for e in events])
            assert projector.lag_seq == last
            assert REGISTRY.get_sample_value("projector_lag_seq") == last
            await projector.flush()
            assert (projector.lag_seq, projector.checkpoint) == (0, last)
            assert REGISTRY.get_sample_value("projector_lag_seq") == 0
            await projector.stop()

    run(body())


def entries(rows: list[Any]) -> list[tuple[str, str, int, int]]:
    """(kind, asset, available, held) of ledger rows."""
    return [(r.kind, r.asset, r.available_delta, r.held_delta) for r in rows]


def test_ledger_rows_of_a_resting_buy_filled_by_a_taker_then_cancelled(database: Database) -> None:
    journal, _ = exchange(accounts=2)
    first = len(journal.records)
    price = 60_000 * USDT
    # Account 1 rests a buy of 0.5 BTC (hold: notional + 20 bps reserve); account 2 sells 0.2 into it.
    journal.apply(PlaceOrder(1, "BTC-USDT", Side.BUY, price=price, quantity=BTC // 2, client_order_id="b"))
    journal.apply(PlaceOrder(2, "BTC-USDT", Side.SELL, price=price, quantity=BTC // 5))
    journal.apply(CancelOrder(1, client_order_id="b"))

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            async with db.connect() as connection:
                rows = list(
                    await connection.execute(
                        select(ledger_entries)
                        .where(ledger_entries.c.seq > first, ledger_entries.c.account_id == 1)
                        .order_by(ledger_entries.c.seq, ledger_entries.c.entry)
                    )
                )
            hold = 30_000 * USDT + 60 * USDT  # 0.5 BTC at 60 000 + 20 bps
            # 0.2 BTC fill: pays 12 000 + 12 (maker 10 bps); keeps 18 000 + 36 for 0.3 BTC; 12 freed.
            assert entries(rows) == [
                ("order_hold", "USDT", -hold, hold),
                ("trade", "USDT", 0, -12_000 * USDT),
                ("fee", "USDT", 0, -12 * USDT),
                ("trade", "BTC", BTC // 5, 0),
                ("order_release", "USDT", 12 * USDT, -12 * USDT),
                ("order_release", "USDT", 18_036 * USDT, -18_036 * USDT),
            ]
            assert [r.ref for r in rows] == ["order:1", "trade:1", "trade:1", "trade:1", "order:1", "order:1"]
            await assert_projection_matches(db, journal)

    run(body())


def test_order_rows_follow_the_lifecycle(database: Database) -> None:
    journal, _ = exchange(accounts=2)
    price = 60_000 * USDT
    journal.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=price, quantity=BTC, client_order_id="s"))
    journal.apply(
        PlaceOrder(2, "BTC-USDT", Side.BUY, price=price + USDT, quantity=BTC // 4, client_order_id="t")
    )
    journal.apply(CancelOrder(1, client_order_id="s"))

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            async with db.connect() as connection:
                rows = {r.client_order_id: r for r in await connection.execute(select(orders))}
                (trade,) = list(await connection.execute(select(market_trades)))
            maker, taker = rows["s"], rows["t"]
            assert (maker.status, maker.reason, maker.filled, maker.quote_filled, maker.fee) == (
                "cancelled",
                "user",
                BTC // 4,
                15_000 * USDT,
                15 * USDT,
            )
            assert (taker.status, taker.filled, taker.fee, taker.updated_seq) == (
                "filled",
                BTC // 4,
                30 * USDT,
                taker.created_seq,
            )
            assert maker.updated_seq == journal.records[-1][0]
            assert as_utc(taker.created_at) == datetime.fromtimestamp(journal.records[-2][1] // 10**9, UTC)
            assert (trade.price, trade.quantity, trade.taker_side) == (price, BTC // 4, "buy")
            assert trade.ts == taker.created_at

    run(body())


def test_a_failed_write_rolls_back_and_is_retried(database: Database) -> None:
    journal = rich_journal(300, seed=12)
    failures: list[str] = []

    def fail_first_ledger_insert(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO ledger_entries") and not failures:
            failures.append(statement)
            raise OperationalError(statement, {}, OSError("connection reset"))

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            expected = await dump(db)
            await database_reset(db)
            event.listen(db.sync_engine, "before_cursor_execute", fail_first_ledger_insert)
            # Orders are inserted before the ledger in the same transaction: the retry must not find them.
            await project(db, journal)
            assert failures and await dump(db) == expected

    run(body())


def test_resume_refuses_an_orders_table_that_disagrees_with_the_journal(database: Database) -> None:
    journal = rich_journal(200, seed=13)
    resting = min(journal.engine.state.orders)

    async def body() -> None:
        async with database.connect() as db:
            await project(db, journal)
            async with db.begin() as connection:
                await connection.execute(orders.update().where(orders.c.order_id == resting).values(fee=-1))
            with pytest.raises(ProjectionError, match=f"orders row {resting} disagrees"):
                await Projector(db).start(journal.records)

    run(body())
