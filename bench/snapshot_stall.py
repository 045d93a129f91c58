"""How long an engine snapshot stops the server's event loop, with the projector inline or in its process.

A runtime over a temporary data directory (SQLite) gets `--orders` resting limit orders on BTC-USDT in
batches of 100, with a snapshot due every `--every` commands, while a probe task measures how late a
1 ms sleep wakes up (the loop's stall). With `PROJECTOR=inline` the sequencer encodes each snapshot on
the loop; with `process` the projector process writes them from its replica. Usage:

    PYTHONPATH=build/native python bench/snapshot_stall.py [--orders 36000] [--every 12000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import uvloop

from wcx.config.settings import load_settings
from wcx.engine import Command, CreditDeposit, PlaceOrder, Side
from wcx.journal import list_snapshots
from wcx.runtime import Runtime

ACCOUNTS = 500
BATCH = 100
PROBE_S = 0.001


async def _probe(stalls: list[float], stop: asyncio.Event) -> None:
    """How much later than asked each 1 ms sleep returns."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(PROBE_S)
        stalls.append(time.perf_counter() - started - PROBE_S)


def _orders(count: int, seed: int = 1) -> list[Command]:
    """Resting limits 1–2,000 USDT either side of 65,000 (0.01 BTC each), spread over the accounts."""
    rng = random.Random(seed)
    orders: list[Command] = []
    for _ in range(count):
        buy = rng.random() < 0.5
        price = 65_000 + rng.randint(1, 2_000) * (-1 if buy else 1)
        side = Side.BUY if buy else Side.SELL
        account = rng.randint(1, ACCOUNTS)
        orders.append(PlaceOrder(account, "BTC-USDT", side, price=price * 10**6, quantity=1_000_000))
    return orders


async def measure(projector: str, orders: int, every: int) -> dict[str, float]:
    """Place the orders under the probe; the worst and p99.9 stall, snapshots written, wall time."""
    with tempfile.TemporaryDirectory(prefix="wcx-snapshot-stall-") as root:
        settings = load_settings(
            data_dir=Path(root),
            wcx_env="development",
            database_url="",
            redis_url="",
            log_level="WARNING",
            projector=projector,
            snapshot_every=every,
        )
        runtime = Runtime(settings)
        await runtime.start()
        try:
            funding: list[Command] = []
            for account in range(1, ACCOUNTS + 1):
                funding.append(CreditDeposit(account, "USDT", 10**15, f"usdt-{account}"))
                funding.append(CreditDeposit(account, "BTC", 10**12, f"btc-{account}"))
            await runtime.submit_many(funding)
            stalls: list[float] = []
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe(stalls, stop))
            started = time.perf_counter()
            commands = _orders(orders)
            for start in range(0, len(commands), BATCH):
                await runtime.submit_many(commands[start : start + BATCH])
            await runtime.projected(timeout=120)
            await asyncio.sleep(0.5)  # the projector process writes its last snapshot after its checkpoint
            elapsed = time.perf_counter() - started
            stop.set()
            await probe
            resting = len(runtime.engine.state.orders)
        finally:
            await runtime.stop()
        stalls.sort()
        return {
            "resting_orders": resting,
            "snapshots": len(list_snapshots(runtime.journal_dir)),
            "max_stall_ms": round(stalls[-1] * 1000, 1),
            "p999_stall_ms": round(stalls[int(len(stalls) * 0.999)] * 1000, 1),
            "seconds": round(elapsed, 1),
        }


def main() -> None:
    """Both modes, one after the other, printed one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=36_000)
    parser.add_argument("--every", type=int, default=12_000)
    args = parser.parse_args()
    for projector in ("inline", "process"):
        figures = uvloop.run(measure(projector, args.orders, args.every))
        print(f"projector={projector}: {figures}")


if __name__ == "__main__":
    main()
