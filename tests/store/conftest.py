"""Store test fixtures: a fresh SQLite file and a PostgreSQL database (per module, emptied per test).

PostgreSQL: a `wcx_test_<random>` database on the server of `WCX_TEST_DATABASE_URL` (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards. Unreachable → skipped with a
loud reason, or failed when `WCX_REQUIRE_SERVICES=1`.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import delete, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.bootstrap import setup_commands
from wcx.config.markets import MarketSpec, load_reference_data
from wcx.engine import (
    AdjustBalance,
    AmendOrder,
    CancelAll,
    Command,
    Engine,
    Event,
    HoldWithdrawal,
    OrderType,
    PlaceOrder,
    ReleaseWithdrawal,
    SelfTradePrevention,
    SetFeeSchedule,
    SettleWithdrawal,
    Side,
    TimeInForce,
)
from wcx.simulator.flow import OrderFlow
from wcx.store.db import create_engine
from wcx.store.migrate import upgrade
from wcx.store.projector import Projector
from wcx.store.schema import metadata

T = TypeVar("T")
Record = tuple[int, int, Command]

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = 1_800_000_000_000_000_000  # ns; 2027-01-15T08:00:00Z


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh event loop (each test owns its loop and its engines)."""
    return asyncio.run(coroutine)


@dataclass(frozen=True, slots=True)
class Database:
    """A migrated, empty database for one test."""

    backend: str
    url: str

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncEngine]:
        """An async engine on this database, disposed afterwards."""
        engine = create_engine(self.url)
        try:
            yield engine
        finally:
            await engine.dispose()


def _connect_args(url: URL) -> dict[str, Any]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
        "database": url.database or "postgres",
    }


async def _admin(server: URL, sql: str) -> None:
    connection = await asyncpg.connect(**_connect_args(server), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _empty(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                await connection.execute(delete(table))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A migrated `wcx_test_<random>` database for this module."""
    server = make_url(os.environ.get("WCX_TEST_DATABASE_URL", DEFAULT_SERVER))
    name = f"wcx_test_{secrets.token_hex(6)}"
    try:
        run(_admin(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL at {server.render_as_string(hide_password=True)} unreachable: {exc!r}"
        if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
            pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(f"!!! SKIPPING PostgreSQL store tests: {reason}")
    url = server.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        run(_migrate(url))
        yield url
    finally:
        run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """An empty migrated database: a new SQLite file, or the module's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wcx.db'}"
        run(_migrate(url))
    else:
        url = request.getfixturevalue("postgres_database")
        run(_empty(url))
    return Database(request.param, url)


async def dump(db: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected table's rows in primary-key order (the checkpoint's wall-clock time left out)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.connect() as connection:
        for name in (
            "orders",
            "fills",
            "ledger_entries",
            "market_trades",
            "candles",
            "projector_checkpoints",
        ):
            table = metadata.tables[name]
            columns = [c for c in table.columns if c.name != "updated_at" or name != "projector_checkpoints"]
            result = await connection.execute(select(*columns).order_by(*table.primary_key.columns))
            out[name] = [tuple(row) for row in result]
    return out


# --- command streams ---------------------------------------------------------------------------------


class Journal:
    """Applies commands to an engine with seq 1, 2, … and ts T0 + seq seconds; keeps records and events."""

    def __init__(self, step_ns: int = 1_000_000_000) -> None:
        self.engine = Engine()
        self.records: list[Record] = []
        self.events: list[list[Event]] = []
        self.step_ns = step_ns

    def apply(self, command: Command, ts: int | None = None) -> list[Event]:
        """Sequence and apply one command."""
        seq = len(self.records) + 1
        ts = ts if ts is not None else T0 + seq * self.step_ns
        self.records.append((seq, ts, command))
        events = self.engine.apply(seq, ts, command)
        self.events.append(events)
        return events

    def batches(self, start: int = 0, seed: int = 0) -> Iterator[list[Event]]:
        """Events from command `start` on, grouped into sequencer-like batches of random size."""
        rng = random.Random(seed)
        index = start
        while index < len(self.events):
            size = rng.choice((1, 2, 5, 20, 60))
            yield [event for events in self.events[index : index + size] for event in events]
            index += size


def exchange(accounts: int = 6, seed: int = 11) -> tuple[Journal, OrderFlow]:
    """A journal with the demo reference data and funded traders, and the flow that funded them."""
    data = load_reference_data()
    journal = Journal()
    flow = OrderFlow(data, list(data.markets), accounts=accounts, seed=seed)
    for command in [*setup_commands(data), *flow.funding()]:
        journal.apply(command)
    return journal, flow


def rich_commands(flow: OrderFlow, engine: Engine, count: int, seed: int) -> Iterator[Command]:
    """OrderFlow's mix plus amends of open orders, quote-amount market orders, IOC/FOK/post-only limits,
    self-trade prevention modes, cancel-all, fee overrides, withdrawals and adjustments.

    Reads `engine` between commands, so apply each command before taking the next."""
    rng = random.Random(seed)
    withdrawals: list[str] = []
    scales = {a.code: a.scale for a in flow.data.assets}

    def lots(spec: MarketSpec, most: int) -> int:
        """A quantity above the market's minimum notional at about the demo price."""
        base_unit: int = 10 ** scales[spec.base]
        least = -(-spec.min_notional * base_unit // (spec.demo_price * spec.lot_step))
        return spec.lot_step * max(least, spec.min_quantity // spec.lot_step) * rng.randint(1, most)

    for n in range(count):
        roll = rng.random()
        account = rng.randint(1, flow.accounts)
        spec = flow.markets[rng.randrange(len(flow.markets))]
        side = rng.choice((Side.BUY, Side.SELL))
        stp = rng.choice(list(SelfTradePrevention))
        price = spec.demo_price + spec.tick_size * rng.randint(-30, 30)
        if roll < 0.5:
            command = flow.next_command()
            if isinstance(command, PlaceOrder) and command.client_order_id:
                command = PlaceOrder(**{**_fields(command), "stp": stp})
            yield command
        elif roll < 0.62 and engine.state.orders:
            order = engine.state.orders[rng.choice(list(engine.state.orders))]
            spec = flow.data.market(order.symbol)
            if rng.random() < 0.4:  # a quantity decrease keeps priority
                yield AmendOrder(order.account, order_id=order.id, quantity=order.quantity - spec.lot_step)
            else:
                yield AmendOrder(
                    order.account,
                    order_id=order.id,
                    quantity=lots(spec, 20) if rng.random() < 0.6 else 0,
                    price=spec.demo_price + spec.tick_size * rng.randint(-30, 30),
                )
        elif roll < 0.69:
            quote = spec.min_notional * rng.randint(1, 40)
            yield PlaceOrder(
                account, spec.symbol, side, OrderType.MARKET, TimeInForce.IOC, quote_amount=quote, stp=stp
            )
        elif roll < 0.8:
            tif = rng.choice((TimeInForce.IOC, TimeInForce.FOK, TimeInForce.GTC, TimeInForce.GTC))
            post_only = tif is TimeInForce.GTC and rng.random() < 0.3
            yield PlaceOrder(
                account,
                spec.symbol,
                side,
                tif=tif,
                price=price,
                quantity=lots(spec, 30),
                post_only=post_only,
                client_order_id=f"r{seed}-{n}",
                stp=stp,
            )
        elif roll < 0.84:
            bound = price if rng.random() < 0.5 else 0
            yield PlaceOrder(
                account,
                spec.symbol,
                side,
                OrderType.MARKET,
                TimeInForce.IOC,
                price=bound,
                quantity=lots(spec, 30),
            )
        elif roll < 0.85:
            yield CancelAll(account, rng.choice(("", spec.symbol)))
        elif roll < 0.87:
            maker, taker = rng.randint(0, 30), rng.randint(0, 40)
            yield SetFeeSchedule(maker, taker, account=account, clear=rng.random() < 0.3)
        elif roll < 0.92:
            wid = f"w{seed}-{n}"
            withdrawals.append(wid)
            amount = spec.min_notional * rng.randint(1, 100)
            yield HoldWithdrawal(wid, account, spec.quote, amount, fee=rng.randint(0, 999))
        elif roll < 0.97 and withdrawals:
            wid = withdrawals.pop(rng.randrange(len(withdrawals)))
            yield SettleWithdrawal(wid) if rng.random() < 0.5 else ReleaseWithdrawal(wid)
        else:
            delta = rng.randint(1, 10**6) * rng.choice((1, -1))
            yield AdjustBalance(account, spec.base, delta, "test", f"adj{seed}-{n}")


def _fields(command: PlaceOrder) -> dict[str, Any]:
    return {name: getattr(command, name) for name in command.__struct_fields__}


def rich_journal(count: int = 2_500, seed: int = 5) -> Journal:
    """Reference data, funding, then `count` commands of every kind."""
    journal, flow = exchange(seed=seed)
    for command in rich_commands(flow, journal.engine, count, seed):
        journal.apply(command)
    return journal


async def project(
    db: AsyncEngine,
    journal: Journal,
    *,
    batch_max: int = 1000,
    seed: int = 0,
    writer: SqlEngine | None = None,
) -> Projector:
    """Deliver the journal's events to a fresh projector in sequencer-like batches, flush, stop."""
    projector = Projector(db, batch_max=batch_max, writer=writer)
    await projector.start()
    for batch in journal.batches(seed=seed):
        projector.on_events(batch)
    await projector.flush()
    await projector.stop()
    return projector
