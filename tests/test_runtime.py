"""The Runtime: data-directory lock, reference data on a fresh journal only, recovery, read-your-writes."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import orjson
import pytest

from wcx.config.settings import Settings, load_settings
from wcx.engine import CancelAll, CreditDeposit, Engine, PlaceOrder, Side
from wcx.journal import list_snapshots, load_newest_snapshot, read_records
from wcx.marketdata.candles import INTERVALS
from wcx.runtime import DataDirLockedError, Runtime, lock_is_held, read_lock_info
from wcx.store import queries

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The runtime runs on asyncio."""
    return "asyncio"


def settings_in(path: Path) -> Settings:
    """Development settings over `path` (SQLite, no Redis)."""
    return load_settings(data_dir=path, wcx_env="development", database_url="", redis_url="")


async def test_one_process_owns_a_data_directory(tmp_path: Path) -> None:
    first = Runtime(settings_in(tmp_path))
    await first.start()
    try:
        assert lock_is_held(tmp_path)
        first.lock.write_info(api="http://127.0.0.1:1")
        assert read_lock_info(tmp_path)["api"] == "http://127.0.0.1:1"
        with pytest.raises(DataDirLockedError, match="in use"):
            await Runtime(settings_in(tmp_path)).start()
        assert first.recovered  # the refused second runtime left the first untouched
    finally:
        await first.stop()
    assert not lock_is_held(tmp_path)


async def test_reference_data_is_set_up_once_and_state_survives_a_restart(tmp_path: Path) -> None:
    runtime = Runtime(settings_in(tmp_path))
    await runtime.start()
    setup_seq = runtime.engine.state.last_seq
    assert set(runtime.engine.state.markets) == {"BTC-USDT", "ETH-USDT", "ETH-BTC"}
    await runtime.submit(CreditDeposit(5, "BTC", 123, "ref-1"))
    assert await runtime.projected()
    state_hash = runtime.engine.state_hash()
    await runtime.stop()

    again = Runtime(settings_in(tmp_path))
    await again.start()
    try:
        assert again.engine.state.last_seq == setup_seq + 1  # nothing re-submitted on a recovered journal
        assert again.engine.state_hash() == state_hash
        assert again.projector.checkpoint == setup_seq + 1
        ledger = await queries.ledger(again.db, 5)
        assert [(e.asset, e.available_delta) for e in ledger.items] == [("BTC", 123)]
        assert await again.database_ready()
    finally:
        await again.stop()


async def test_the_websocket_ticker_and_candles_survive_a_restart(tmp_path: Path) -> None:
    btc, usdt = 10**8, 10**6
    runtime = Runtime(settings_in(tmp_path))
    await runtime.start()
    await runtime.submit(CreditDeposit(1, "BTC", btc, "seed-btc"))
    await runtime.submit(CreditDeposit(2, "USDT", 100_000 * usdt, "seed-usdt"))
    for price in (60_000, 61_000, 59_500):
        await runtime.submit(PlaceOrder(1, "BTC-USDT", Side.SELL, price=price * usdt, quantity=btc // 10))
        await runtime.submit(PlaceOrder(2, "BTC-USDT", Side.BUY, price=price * usdt, quantity=btc // 10))

    def market_data(runtime: Runtime) -> list[dict[str, object]]:
        found = [runtime.publisher.ticker_snapshot("BTC-USDT")]
        found += [runtime.publisher.candle_snapshot("BTC-USDT", interval) for interval in INTERVALS]
        messages = [orjson.loads(snapshot[1]) for snapshot in found if snapshot is not None]
        return [{k: v for k, v in m.items() if k not in ("seq", "ts")} for m in messages]

    before = market_data(runtime)
    assert len(before) == 1 + len(INTERVALS)
    assert (before[0]["trades"], before[0]["high"], before[0]["low"]) == (3, "61000.000000", "59500.000000")
    await runtime.stop()

    again = Runtime(settings_in(tmp_path))
    await again.start()
    try:
        assert market_data(again) == before  # from SQL history, not empty until the next trade
    finally:
        await again.stop()


async def test_a_command_without_events_does_not_stall_read_your_writes(tmp_path: Path) -> None:
    runtime = Runtime(settings_in(tmp_path))
    await runtime.start()
    try:
        await runtime.submit(CreditDeposit(5, "BTC", 123, "ref-1"))
        assert await runtime.submit(CancelAll(5)) == []  # nothing open: advances seq, no events
        assert runtime.projector.checkpoint < runtime.sequencer.last_seq
        # The projection already holds every event, so this must not wait for the missing seq.
        assert await runtime.projected(timeout=0.05)
    finally:
        await runtime.stop()


@pytest.mark.parametrize("projector", ["process", "inline"])
async def test_engine_snapshots_are_written_on_schedule_and_recovery_starts_from_them(
    tmp_path: Path, projector: str
) -> None:
    # With a projector process, its replica writes them (the server's loop would stall encoding them).
    settings = settings_in(tmp_path).model_copy(update={"snapshot_every": 5, "projector": projector})
    runtime = Runtime(settings)
    await runtime.start()
    try:
        for n in range(12):
            await runtime.submit(CreditDeposit(5, "BTC", 100 + n, f"ref-{n}"))
        assert await runtime.projected()
        last_seq = runtime.engine.state.last_seq
        deadline = time.monotonic() + 10
        while (newest := load_newest_snapshot(runtime.journal_dir)) is None or newest[1] < last_seq - 5:
            assert time.monotonic() < deadline, f"no snapshot near seq {last_seq}: {newest}"
            await asyncio.sleep(0.02)
        state_hash = runtime.engine.state_hash()
    finally:
        await runtime.stop()
    seqs = [seq for seq, _ in list_snapshots(runtime.journal_dir)]
    assert all(b - a >= 5 for a, b in itertools.pairwise(seqs)) and seqs[-1] <= last_seq
    snapshot_engine, snapshot_seq = newest
    replica = Engine()
    for seq, ts, command in read_records(runtime.journal_dir):
        if seq <= snapshot_seq:
            replica.apply(seq, ts, command)
    assert snapshot_engine.state_hash() == replica.state_hash()

    again = Runtime(settings)
    await again.start()
    try:
        assert again.engine.state_hash() == state_hash
    finally:
        await again.stop()
