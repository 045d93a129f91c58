"""The projector: engine events → SQL history (orders, fills, ledger, market trades, candles).

Exactly once. `on_events` (a sequencer listener) only queues. A writer task takes whole event
lists — one list never splits a command's events — up to `batch_max` events, turns them into rows
and writes the rows together with the checkpoint (`projector_checkpoints`, name "main") in one
transaction. The checkpoint update is conditional on its previous value, so a batch delivered twice
is written once, and a second projector on the same database is detected instead of interleaved.
Events at or below the projected seq are skipped. A failed write is retried with backoff; the
rows are computed once and written verbatim, so a retry cannot double-count.

Ledger from events. One ledger row per balance change: every event states its changes except
two the engine makes silently — the hold a resting buy keeps after a fill (recomputed from its
remainder and running fee numerator) and the surplus hold released when a taker finishes its
command (resting or closing). So the projector mirrors the engine's per-order hold arithmetic
(`_Mirror`, using the engine's own `Order` for the formulas): fee schedule, markets, and for each
open order its hold, fee numerator and fees paid. Every trade's fees are checked against the
mirror; a disagreement stops the projector (`ProjectionError`) rather than write a wrong ledger.

Resuming after a crash. The mirror lives in memory. `start(records)` replays journal records
through a scratch `Engine` — from seq 1, or from `engine` restored from a snapshot at or before
the checkpoint — rebuilds the mirror from the scratch state at the checkpoint (plus the orders
table for running totals), and projects the events of the records after the checkpoint. Runtime
wiring, before the sequencer starts:

    projector = Projector(db)
    checkpoint = await projector.read_checkpoint()
    found = load_newest_snapshot(journal_dir)          # use it only if found[1] <= checkpoint
    await projector.start(read_records(journal_dir, first), engine=snapshot_engine_or_None)
    sequencer.add_listener(projector.on_events)

Lag is `lag_seq` (highest seq received − checkpoint) and the gauge `projector_lag_seq`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.engine import (
    ADJUSTMENT_ACCOUNT,
    FEE_ACCOUNT,
    OMNIBUS_ACCOUNT,
    Engine,
    Event,
    OrderType,
    Side,
    TimeInForce,
)
from wcx.engine.events import (
    AssetAdded,
    BalanceAdjusted,
    DepositCredited,
    FeeScheduleChanged,
    MarketAdded,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    WithdrawalHeld,
    WithdrawalReleased,
    WithdrawalSettled,
)
from wcx.engine.orders import Order
from wcx.engine.state import EngineState
from wcx.journal import Record, load_newest_snapshot, read_records
from wcx.marketdata.candles import INTERVALS, Ohlcv, as_utc, bucket_start, to_datetime
from wcx.store.schema import candles, fills, ledger_entries, market_trades, orders, projector_checkpoints

logger = logging.getLogger(__name__)

CHECKPOINT = "main"

PROJECTOR_LAG = Gauge("projector_lag_seq", "Engine events received but not yet written to SQL (in seq).")

_ORDER_CHANGES = (
    "price",
    "quantity",
    "status",
    "filled",
    "quote_filled",
    "fee",
    "reason",
    "updated_seq",
    "updated_at",
)
_ORDER_UPDATE = (
    update(orders)
    .where(orders.c.order_id == bindparam("b_order_id"))
    .values({name: bindparam(name) for name in _ORDER_CHANGES})
)
_CHECKPOINT_MOVE = (
    update(projector_checkpoints)
    .where(projector_checkpoints.c.name == CHECKPOINT, projector_checkpoints.c.seq == bindparam("b_seq"))
    .values(seq=bindparam("seq"), updated_at=bindparam("updated_at"))
)
_CANDLE_KEY = tuple_(candles.c.symbol, candles.c.interval, candles.c.open_time)
_CANDLE_UPDATE = (
    update(candles)
    .where(
        candles.c.symbol == bindparam("b_symbol"),
        candles.c.interval == bindparam("b_interval"),
        candles.c.open_time == bindparam("b_open_time"),
    )
    .values({name: bindparam(name) for name in ("high", "low", "close", "volume", "quote_volume", "trades")})
)
_IN_CHUNK = 500
_MAX_BACKOFF = 5.0


class ProjectionError(RuntimeError):
    """The projection cannot continue correctly (mirror disagrees with an event, or a second writer)."""


CandleKey = tuple[str, str, datetime]


@dataclass(slots=True)
class _Rows:
    """The rows one batch writes, computed once; `last_seq` becomes the checkpoint."""

    last_seq: int
    new_orders: list[dict[str, Any]] = field(default_factory=list)
    changed_orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)
    candles: dict[CandleKey, Ohlcv] = field(default_factory=dict)


@dataclass(slots=True)
class _Market:
    base: str
    quote: str
    base_unit: int


@dataclass(slots=True)
class _Tracked:
    """An open order: the engine's arithmetic (`order`) and its orders-table row."""

    order: Order
    row: dict[str, Any]
    market: _Market

    @property
    def held_asset(self) -> str:
        return self.market.quote if self.order.is_buy else self.market.base


def _copy_order(source: Order) -> Order:
    """An independent copy (the scratch engine keeps mutating its own)."""
    copy = Order(
        source.id,
        source.account,
        source.symbol,
        source.is_buy,
        source.type,
        source.tif,
        source.price,
        source.quantity,
        source.client_order_id,
        source.post_only,
        source.stp,
        source.maker_bps,
        source.taker_bps,
    )
    copy.remaining, copy.filled, copy.hold = source.remaining, source.filled, source.hold
    copy.fee_num, copy.fee_paid = source.fee_num, source.fee_paid
    return copy


class _Mirror:
    """The engine facts the ledger needs that events leave implicit; turns events into rows."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.scales: dict[str, int] = {}
        self.markets: dict[str, _Market] = {}
        self.default_fees = (0, 0)
        self.fee_overrides: dict[int, tuple[int, int]] = {}
        self.open: dict[int, _Tracked] = {}
        # Per command being projected:
        self._rows = _Rows(seq)
        self._touched: dict[int, dict[str, Any]] = {}
        self._created: set[int] = set()
        self._seq = 0
        self._at = datetime.min
        self._entry = 0
        self._taker: _Tracked | None = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            AssetAdded: self._asset,
            MarketAdded: self._market,
            FeeScheduleChanged: self._fees,
            DepositCredited: self._deposit,
            WithdrawalHeld: self._withdrawal_held,
            WithdrawalSettled: self._withdrawal_settled,
            WithdrawalReleased: self._withdrawal_released,
            BalanceAdjusted: self._adjusted,
            OrderAccepted: self._accepted,
            OrderAmended: self._amended,
            OrderFilled: self._filled,
            OrderCancelled: self._cancelled,
            OrderExpired: self._expired,
        }

    @classmethod
    def from_state(cls, state: EngineState, open_rows: dict[int, dict[str, Any]]) -> _Mirror:
        """The mirror at `state.last_seq`, given the orders-table rows of the state's open orders."""
        mirror = cls(state.last_seq)
        mirror.scales = dict(state.assets)
        mirror.markets = {s: _Market(m.base, m.quote, m.base_unit) for s, m in state.markets.items()}
        mirror.default_fees = state.default_fees
        mirror.fee_overrides = dict(state.fee_overrides)
        for order_id, order in state.orders.items():
            row = open_rows.get(order_id)
            if row is None or (row["status"], row["filled"], row["fee"]) != (
                "open",
                order.filled,
                order.fee_paid,
            ):
                raise ProjectionError(
                    f"orders row {order_id} disagrees with the journal at seq {state.last_seq}"
                )
            mirror.open[order_id] = _Tracked(_copy_order(order), row, mirror.markets[order.symbol])
        return mirror

    def project(self, events: Iterable[Event], through: int = 0) -> _Rows | None:
        """Rows for the events after `self.seq` (None if there are none); `through` can extend the seq."""
        self._rows = rows = _Rows(self.seq)
        self._touched, self._created = {}, set()
        for event in events:
            if event.seq <= self.seq:
                continue
            if event.seq != self._seq:
                self._end_command()
                self._seq, self._at, self._entry = event.seq, to_datetime(event.ts), 0
                rows.last_seq = event.seq
            handler = self._handlers.get(type(event))
            if handler is not None:
                try:
                    handler(event)
                except KeyError as exc:
                    # Only a mirror that missed earlier events lacks an order or market.
                    raise ProjectionError(f"seq {event.seq}: unknown {exc} (journal not replayed?)") from exc
        self._end_command()
        rows.last_seq = max(rows.last_seq, through)
        if rows.last_seq == self.seq:
            return None
        self.seq = rows.last_seq
        for order_id, row in self._touched.items():
            if order_id in self._created:
                rows.new_orders.append(dict(row))
            else:
                rows.changed_orders.append({"b_order_id": order_id, **{k: row[k] for k in _ORDER_CHANGES}})
        return rows

    # --- ledger and order rows --------------------------------------------------------------------

    def _post(self, account: int, asset: str, available: int, held: int, kind: str, ref: str) -> None:
        if available or held:
            self._entry += 1
            self._rows.ledger.append(
                {
                    "seq": self._seq,
                    "entry": self._entry,
                    "account_id": account,
                    "asset": asset,
                    "available_delta": available,
                    "held_delta": held,
                    "kind": kind,
                    "ref": ref,
                    "ts": self._at,
                }
            )

    def _touch(self, tracked: _Tracked) -> None:
        row = tracked.row
        row["updated_seq"], row["updated_at"] = self._seq, self._at
        self._touched[row["order_id"]] = row

    def _release(self, tracked: _Tracked, amount: int) -> None:
        """Held → available for an order's funds it no longer needs."""
        order = tracked.order
        order.hold -= amount
        self._post(order.account, tracked.held_asset, amount, -amount, "order_release", f"order:{order.id}")

    def _close(self, tracked: _Tracked, status: str, reason: str = "") -> None:
        tracked.row["status"], tracked.row["reason"] = status, reason
        self._touch(tracked)
        del self.open[tracked.order.id]

    def _end_command(self) -> None:
        """What the engine's `_finish` does silently: rest a GTC remainder with its exact hold, or close."""
        taker, self._taker = self._taker, None
        if taker is None or taker.row["status"] != "open":
            return
        order = taker.order
        if order.remaining and order.type is OrderType.LIMIT and order.tif is TimeInForce.GTC:
            self._release(taker, order.hold - order.required_hold(taker.market.base_unit))
        else:
            self._release(taker, order.hold)
            self._close(taker, "filled")

    # --- handlers ----------------------------------------------------------------------------------

    def _asset(self, event: AssetAdded) -> None:
        self.scales[event.code] = event.scale

    def _market(self, event: MarketAdded) -> None:
        self.markets[event.symbol] = _Market(event.base, event.quote, 10 ** self.scales[event.base])

    def _fees(self, event: FeeScheduleChanged) -> None:
        if event.account is None:
            self.default_fees = (event.maker_bps, event.taker_bps)
        elif event.cleared:
            self.fee_overrides.pop(event.account, None)
        else:
            self.fee_overrides[event.account] = (event.maker_bps, event.taker_bps)

    def _deposit(self, event: DepositCredited) -> None:
        self._post(OMNIBUS_ACCOUNT, event.asset, -event.amount, 0, "deposit", event.reference)
        self._post(event.account, event.asset, event.amount, 0, "deposit", event.reference)

    def _withdrawal_held(self, event: WithdrawalHeld) -> None:
        total = event.amount + event.fee
        self._post(event.account, event.asset, -total, total, "withdrawal_hold", event.withdrawal_id)

    def _withdrawal_settled(self, event: WithdrawalSettled) -> None:
        ref = event.withdrawal_id
        self._post(event.account, event.asset, 0, -(event.amount + event.fee), "withdrawal", ref)
        self._post(OMNIBUS_ACCOUNT, event.asset, event.amount, 0, "withdrawal", ref)
        self._post(FEE_ACCOUNT, event.asset, event.fee, 0, "withdrawal_fee", ref)

    def _withdrawal_released(self, event: WithdrawalReleased) -> None:
        total = event.amount + event.fee
        self._post(event.account, event.asset, total, -total, "withdrawal_release", event.withdrawal_id)

    def _adjusted(self, event: BalanceAdjusted) -> None:
        self._post(ADJUSTMENT_ACCOUNT, event.asset, -event.delta, 0, "adjustment", event.reference)
        self._post(event.account, event.asset, event.delta, 0, "adjustment", event.reference)

    def _accepted(self, event: OrderAccepted) -> None:
        market = self.markets[event.symbol]
        maker_bps, taker_bps = self.fee_overrides.get(event.account, self.default_fees)
        order = Order(
            event.order_id,
            event.account,
            event.symbol,
            event.side is Side.BUY,
            event.type,
            event.tif,
            event.price,
            event.quantity,
            event.client_order_id,
            event.post_only,
            event.stp,
            maker_bps,
            taker_bps,
        )
        order.hold = event.hold
        row = {
            "order_id": event.order_id,
            "account_id": event.account,
            "symbol": event.symbol,
            "side": event.side.value,
            "type": event.type.value,
            "tif": event.tif.value,
            "price": event.price,
            "quantity": event.quantity,
            "quote_amount": event.quote_amount,
            "client_order_id": event.client_order_id,
            "post_only": event.post_only,
            "status": "open",
            "filled": 0,
            "quote_filled": 0,
            "fee": 0,
            "reason": "",
            "created_seq": self._seq,
            "created_at": self._at,
        }
        tracked = self._taker = self.open[event.order_id] = _Tracked(order, row, market)
        self._created.add(event.order_id)
        self._touch(tracked)
        self._post(
            event.account, tracked.held_asset, -event.hold, event.hold, "order_hold", f"order:{order.id}"
        )

    def _amended(self, event: OrderAmended) -> None:
        tracked = self.open[event.order_id]
        order = tracked.order
        delta = event.hold - order.hold
        order.price, order.quantity, order.remaining, order.hold = (
            event.price,
            event.quantity,
            event.remaining,
            event.hold,
        )
        tracked.row["price"], tracked.row["quantity"] = event.price, event.quantity
        self._touch(tracked)
        self._post(order.account, tracked.held_asset, -delta, delta, "amend_hold", f"order:{order.id}")
        if not event.kept_priority:
            self._taker = tracked

    def _fill(self, tracked: _Tracked, event: OrderFilled, fee: int, bps: int, remaining: int) -> None:
        """Advance one side's running totals; check the engine's fee against the mirror's arithmetic."""
        order = tracked.order
        if order.charge_fee(event.quote_quantity, bps) != fee:
            raise ProjectionError(
                f"trade {event.trade_id}: order {order.id} fee {fee} disagrees with the mirror"
            )
        order.remaining = remaining
        order.filled += event.quantity
        row = tracked.row
        row["filled"] = order.filled
        row["quote_filled"] += event.quote_quantity
        row["fee"] = order.fee_paid
        self._touch(tracked)

    def _filled(self, event: OrderFilled) -> None:
        maker, taker = self.open[event.maker_order_id], self.open[event.taker_order_id]
        market = maker.market
        base, quote = market.base, market.quote
        qty, notional = event.quantity, event.quote_quantity
        self._fill(maker, event, event.maker_fee, maker.order.maker_bps, event.maker_remaining)
        self._fill(taker, event, event.taker_fee, taker.order.taker_bps, event.taker_remaining)
        ref = f"trade:{event.trade_id}"
        buyer, seller = (taker, maker) if event.taker_side is Side.BUY else (maker, taker)
        buyer_fee, seller_fee = (
            (event.taker_fee, event.maker_fee) if buyer is taker else (event.maker_fee, event.taker_fee)
        )
        # Buyer pays notional + fee out of its quote hold and receives base.
        self._post(buyer.order.account, quote, 0, -notional, "trade", ref)
        self._post(buyer.order.account, quote, 0, -buyer_fee, "fee", ref)
        self._post(buyer.order.account, base, qty, 0, "trade", ref)
        buyer.order.hold -= notional + buyer_fee
        if buyer is maker:
            # A resting buy keeps exactly what its remainder needs; the engine frees the rest.
            self._release(maker, maker.order.hold - maker.order.required_hold(market.base_unit))
        # Seller delivers base out of its hold and receives notional − fee.
        self._post(seller.order.account, base, 0, -qty, "trade", ref)
        self._post(seller.order.account, quote, notional, 0, "trade", ref)
        self._post(seller.order.account, quote, -seller_fee, 0, "fee", ref)
        seller.order.hold -= qty
        self._post(FEE_ACCOUNT, quote, buyer_fee, 0, "fee", ref)
        self._post(FEE_ACCOUNT, quote, seller_fee, 0, "fee", ref)
        maker_side = Side.SELL if event.taker_side is Side.BUY else Side.BUY
        for tracked, side, liquidity, fee in (
            (maker, maker_side, "maker", event.maker_fee),
            (taker, event.taker_side, "taker", event.taker_fee),
        ):
            self._rows.fills.append(
                {
                    "trade_id": event.trade_id,
                    "order_id": tracked.order.id,
                    "account_id": tracked.order.account,
                    "symbol": event.symbol,
                    "side": side.value,
                    "liquidity": liquidity,
                    "price": event.price,
                    "quantity": qty,
                    "quote_quantity": notional,
                    "fee": fee,
                    "seq": self._seq,
                    "ts": self._at,
                }
            )
        self._rows.trades.append(
            {
                "trade_id": event.trade_id,
                "ts": self._at,
                "symbol": event.symbol,
                "price": event.price,
                "quantity": qty,
                "quote_quantity": notional,
                "taker_side": event.taker_side.value,
                "seq": self._seq,
            }
        )
        for interval in INTERVALS:
            key = (event.symbol, interval, bucket_start(event.ts, interval))
            candle = Ohlcv.of_trade(event.price, qty, notional)
            if key in self._rows.candles:
                self._rows.candles[key].merge(candle)
            else:
                self._rows.candles[key] = candle
        if event.maker_remaining == 0:
            self._close(maker, "filled")

    def _gone(self, tracked: _Tracked, status: str, reason: str) -> None:
        self._release(tracked, tracked.order.hold)
        self._close(tracked, status, reason)

    def _cancelled(self, event: OrderCancelled) -> None:
        self._gone(self.open[event.order_id], "cancelled", event.reason.value)

    def _expired(self, event: OrderExpired) -> None:
        self._gone(self.open[event.order_id], "expired", event.reason.value)


def _upsert_candles(connection: Connection, batch: dict[CandleKey, Ohlcv]) -> None:
    """Merge the batch's aggregates into stored candles (read, merge in Python: amounts are exact ints)."""
    keys = list(batch)
    result = connection.execute(select(candles).where(_CANDLE_KEY.in_(keys)))
    stored = {(r.symbol, r.interval, as_utc(r.open_time)): r for r in result}
    inserts, updates = [], []
    for key, later in batch.items():
        symbol, interval, open_time = key
        row = stored.get(key)
        if row is None:
            inserts.append(
                {"symbol": symbol, "interval": interval, "open_time": open_time, **_ohlcv_values(later)}
            )
            continue
        merged = Ohlcv.of_stored(row)
        merged.merge(later)
        values = _ohlcv_values(merged)
        del values["open"]
        updates.append({"b_symbol": symbol, "b_interval": interval, "b_open_time": open_time, **values})
    if inserts:
        connection.execute(insert(candles), inserts)
    if updates:
        connection.execute(_CANDLE_UPDATE, updates)


def write_rows(connection: Connection, rows: _Rows, checkpoint: int) -> int:
    """Write a batch's rows and move the checkpoint from `checkpoint` (in the caller's transaction);
    the new checkpoint. Blocking, so it runs with `run_sync` on an async connection."""
    moved = connection.execute(
        _CHECKPOINT_MOVE, {"b_seq": checkpoint, "seq": rows.last_seq, "updated_at": datetime.now(UTC)}
    )
    if moved.rowcount != 1:
        seq = connection.scalar(
            select(projector_checkpoints.c.seq).where(projector_checkpoints.c.name == CHECKPOINT)
        )
        if seq != rows.last_seq:
            raise ProjectionError(f"checkpoint is {seq}, expected {checkpoint}: a second projector?")
        # An earlier attempt committed but its acknowledgement was lost.
        return int(seq)
    for table, values in (
        (orders, rows.new_orders),
        (fills, rows.fills),
        (ledger_entries, rows.ledger),
        (market_trades, rows.trades),
    ):
        if values:
            connection.execute(insert(table), values)
    if rows.changed_orders:
        connection.execute(_ORDER_UPDATE, rows.changed_orders)
    if rows.candles:
        _upsert_candles(connection, rows.candles)
    return rows.last_seq


def _ohlcv_values(candle: Ohlcv) -> dict[str, int]:
    return {
        "open": candle.open,
        "high": candle.high,
        "low": candle.low,
        "close": candle.close,
        "volume": candle.volume,
        "quote_volume": candle.quote_volume,
        "trades": candle.trades,
    }


class Projector:
    """Writes engine events to SQL in batches, exactly once by seq, resuming from its checkpoint."""

    def __init__(self, db: AsyncEngine, *, batch_max: int = 1000, writer: SqlEngine | None = None) -> None:
        self.db = db
        # A blocking engine for the writes, for a process that has nothing else to do meanwhile: on
        # SQLite it saves aiosqlite's thread hand-offs, most of the projector process's CPU.
        self._writer = writer
        self.batch_max = batch_max
        self._checkpoint = 0
        self._head = 0
        self._mirror: _Mirror | None = None
        self._scratch: Engine | None = None
        self._queue: deque[list[Event]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def checkpoint(self) -> int:
        """The last seq written to SQL."""
        return self._checkpoint

    @property
    def engine(self) -> Engine | None:
        """The replica engine the journal records are replayed through (None unless following the journal)."""
        return self._scratch

    @property
    def lag_seq(self) -> int:
        """Highest seq received minus the checkpoint."""
        return max(self._head - self._checkpoint, 0)

    def on_events(self, events: list[Event]) -> None:
        """Queue a durable batch's events (sequencer listener; never blocks)."""
        if events:
            self._queue.append(events)
            self._head = max(self._head, events[-1].seq)
            self._idle.clear()
            self._wake.set()
            PROJECTOR_LAG.set(self.lag_seq)

    async def read_checkpoint(self) -> int:
        """Load the checkpoint from SQL (creating it at 0 on a fresh database)."""
        async with self.db.begin() as connection:
            seq = await connection.scalar(
                select(projector_checkpoints.c.seq).where(projector_checkpoints.c.name == CHECKPOINT)
            )
            if seq is None:
                seq = 0
                await connection.execute(
                    insert(projector_checkpoints).values(name=CHECKPOINT, seq=0, updated_at=datetime.now(UTC))
                )
        self._checkpoint = seq
        self._head = max(self._head, seq)
        return seq

    async def start_from_journal(self, journal_root: Path) -> None:
        """Project the journal beyond the SQL checkpoint (after a crash or a restore), then follow live."""
        base, base_seq = await self.replay_base(journal_root)
        await self.start(read_records(journal_root, base_seq + 1), engine=base)

    async def replay_base(self, journal_root: Path) -> tuple[Engine | None, int]:
        """Read the checkpoint; the newest snapshot at or before it (and its seq), else (None, 0)."""
        checkpoint = await self.read_checkpoint()
        found = load_newest_snapshot(journal_root)
        # A snapshot at or before the checkpoint saves replaying the journal from seq 1.
        return found if found is not None and found[1] <= checkpoint else (None, 0)

    async def start(self, records: Iterable[Record] = (), *, engine: Engine | None = None) -> None:
        """Catch up from the journal records (see `catch_up`), then write queued events as they come."""
        await self.read_checkpoint()
        await self.catch_up(records, engine=engine)
        self._scratch = None  # live events come from the sequencer from here on
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="projector")

    async def catch_up(self, records: Iterable[Record], *, engine: Engine | None = None) -> None:
        """Replay records through a scratch engine (fresh, or `engine` at or before the checkpoint),
        rebuild the mirror at the checkpoint and project every record after it."""
        scratch = engine if engine is not None else Engine()
        target = self._checkpoint
        if scratch.state.last_seq > target:
            raise ValueError(f"scratch engine is at seq {scratch.state.last_seq}, after checkpoint {target}")
        records = iter(records)
        if scratch.state.last_seq < target:
            for seq, ts, command in records:
                if seq <= scratch.state.last_seq:
                    continue
                scratch.apply(seq, ts, command)
                if seq == target:
                    break
        if scratch.state.last_seq != target:
            raise ProjectionError(f"journal ends at seq {scratch.state.last_seq}, before checkpoint {target}")
        self._mirror = await self._mirror_at(scratch.state)
        self._scratch = scratch
        await self.project_records(records)

    async def project_records(self, records: Iterable[Record]) -> None:
        """Apply journal records after the scratch engine's seq and write their events (after `catch_up`)."""
        scratch, mirror = self._scratch, self._mirror
        if scratch is None or mirror is None:
            raise RuntimeError("catch_up first")
        pending: list[Event] = []
        for seq, ts, command in records:
            if seq <= scratch.state.last_seq:
                continue
            pending += scratch.apply(seq, ts, command)
            if len(pending) >= self.batch_max:
                await self._project(mirror, pending, seq)
                pending = []
        await self._project(mirror, pending, scratch.state.last_seq)

    async def flush(self) -> None:
        """Wait until every queued event is written."""
        if self._task is None:
            raise RuntimeError("projector not started")
        idle = asyncio.ensure_future(self._idle.wait())
        try:
            await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        """Write what is queued, then stop (re-raises a failure of the writer task)."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wake.set()
            await task

    async def _mirror_at(self, state: EngineState) -> _Mirror:
        ids = sorted(state.orders)
        rows: dict[int, dict[str, Any]] = {}
        async with self.db.connect() as connection:
            for start in range(0, len(ids), _IN_CHUNK):
                result = await connection.execute(
                    select(orders).where(orders.c.order_id.in_(ids[start : start + _IN_CHUNK]))
                )
                for row in result.mappings():
                    record = dict(row)
                    record["created_at"] = as_utc(record["created_at"])
                    record["updated_at"] = as_utc(record["updated_at"])
                    rows[record["order_id"]] = record
        return _Mirror.from_state(state, rows)

    async def _run(self) -> None:
        mirror = self._mirror
        assert mirror is not None, "catch_up builds the mirror"
        while True:
            if not self._queue:
                self._idle.set()
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            taken = [self._queue.popleft()]
            size = len(taken[0])
            while self._queue and size + len(self._queue[0]) <= self.batch_max:
                size += len(self._queue[0])
                taken.append(self._queue.popleft())
            await self._project(mirror, [event for events in taken for event in events], 0)

    async def _project(self, mirror: _Mirror, events: Sequence[Event], through: int) -> None:
        rows = mirror.project(events, through)
        if rows is None:
            return
        delay = 0.05
        while True:
            try:
                await self._write(rows)
                break
            except (SQLAlchemyError, OSError):
                if self._closing:
                    raise
                logger.warning("projector write failed; retrying in %.2fs", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        self._head = max(self._head, rows.last_seq)
        PROJECTOR_LAG.set(self.lag_seq)

    async def _write(self, rows: _Rows) -> None:
        # The checkpoint moves only once the transaction has committed: readers wait on it.
        if self._writer is not None:
            with self._writer.begin() as connection:
                checkpoint = write_rows(connection, rows, self._checkpoint)
        else:
            async with self.db.begin() as connection:
                checkpoint = await connection.run_sync(write_rows, rows, self._checkpoint)
        self._checkpoint = checkpoint
