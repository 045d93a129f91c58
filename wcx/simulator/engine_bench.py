"""Engine benchmarks on a seeded order-flow stream: engine alone, journaled, and replay."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wcx.bootstrap import setup_commands, tune_gc
from wcx.config.markets import load_reference_data
from wcx.engine import Command, Engine
from wcx.engine import trading as _trading_module
from wcx.journal import replay
from wcx.sequencer import Sequencer
from wcx.simulator.flow import OrderFlow, synthetic_reference_data


@dataclass(frozen=True, slots=True)
class Stream:
    """Set-up commands (not timed) and the timed trading commands."""

    name: str
    setup: list[Command]
    trading: list[Command]


@dataclass(frozen=True, slots=True)
class Figures:
    """Throughput and per-command latency of one run."""

    cmds_per_s: float
    p50_us: float
    p99_us: float
    p999_us: float

    def as_dict(self) -> dict[str, float]:
        """Rounded figures for printing and JSON."""
        return {k: round(getattr(self, k), 2) for k in ("cmds_per_s", "p50_us", "p99_us", "p999_us")}


def engine_implementation() -> str:
    """'native' when the mypyc-compiled engine is loaded, else 'python'."""
    return "native" if not _trading_module.__file__.endswith(".py") else "python"


def make_stream(markets: int, commands: int, accounts: int = 1_000, seed: int = 42) -> Stream:
    """The seeded benchmark stream over 1 demo market (BTC-USDT) or `markets` synthetic ones."""
    base = load_reference_data()
    data = base if markets == 1 else synthetic_reference_data(markets, base)
    specs = [base.market("BTC-USDT")] if markets == 1 else list(data.markets)
    flow = OrderFlow(data, specs, accounts=accounts, seed=seed)
    return Stream(f"{markets} market{'s' if markets > 1 else ''}", setup_commands(data) + flow.funding(),
                  list(flow.commands(commands)))  # fmt: skip


def prepared_engine(stream: Stream) -> tuple[Engine, int]:
    """An engine with the stream's set-up applied, and the last seq used."""
    engine = Engine()
    seq = 0
    for command in stream.setup:
        seq += 1
        engine.apply(seq, seq, command)
    tune_gc()
    return engine, seq


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    """p50, p99, p99.9 in microseconds."""
    cuts = statistics.quantiles(samples_ns, n=1000, method="inclusive")
    return cuts[499] / 1e3, cuts[989] / 1e3, cuts[998] / 1e3


def bench_engine_alone(stream: Stream) -> Figures:
    """Risk + matching + fees: one untimed-per-command pass for throughput, one timed pass for latency."""
    engine, seq = prepared_engine(stream)
    apply = engine.apply
    start = time.perf_counter()
    for command in stream.trading:
        seq += 1
        apply(seq, seq, command)
    elapsed = time.perf_counter() - start
    engine, seq = prepared_engine(stream)
    apply = engine.apply
    clock = time.perf_counter_ns
    samples = []
    for command in stream.trading:
        seq += 1
        t0 = clock()
        apply(seq, seq, command)
        samples.append(clock() - t0)
    return Figures(len(stream.trading) / elapsed, *percentiles(samples))


def timed(fn: Callable[[], int]) -> float:
    """Run `fn` (which returns a command count) and give commands per second."""
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


BURST = 100


async def _journaled(stream: Stream, data_dir: Path) -> Figures:
    async with Sequencer.open(data_dir, snapshot_every=None, snapshot_interval=None) as sequencer:
        await sequencer.submit_many(stream.setup)
        tune_gc()
        commands = stream.trading
        clock = time.perf_counter_ns
        samples: list[int] = []
        start = time.perf_counter()
        for first in range(0, len(commands), BURST):
            burst = commands[first : first + BURST]
            t0 = clock()
            await sequencer.submit_many(burst)
            # Every command of a burst is acknowledged when the burst's group commit is durable.
            samples.extend([clock() - t0] * len(burst))
        elapsed = time.perf_counter() - start
    return Figures(len(commands) / elapsed, *percentiles(samples))


def bench_journaled(stream: Stream, data_dir: Path) -> Figures:
    """Engine behind the sequencer: group commit with real fsync, commands submitted in bursts of 100."""
    return asyncio.run(_journaled(stream, data_dir))


def bench_replay(data_dir: Path) -> float:
    """Commands per second rebuilding the engine from the journal alone (decode + CRC + apply)."""
    tune_gc()
    return timed(lambda: replay(data_dir)[1])


def run_all(markets: int, commands: int) -> dict[str, object]:
    """Every figure for one stream, as a dict."""
    stream = make_stream(markets, commands)
    alone = bench_engine_alone(stream)
    with tempfile.TemporaryDirectory(prefix="wcx-bench-") as tmp:
        journaled = bench_journaled(stream, Path(tmp))
        replay_rate = bench_replay(Path(tmp))
    return {
        "stream": stream.name,
        "commands": len(stream.trading),
        "engine": alone.as_dict(),
        "journaled": journaled.as_dict(),
        "replay_cmds_per_s": round(replay_rate, 2),
    }
