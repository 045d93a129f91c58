"""`wcx bench …`: benchmarks that print their figures."""

from __future__ import annotations

import json
import os

import typer
from rich.console import Console
from rich.table import Table

from wcx.simulator.engine_bench import engine_implementation, run_all

app = typer.Typer(help="Benchmarks (figures printed, never asserted).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Benchmarks (figures printed, never asserted)."""


@app.command("engine")
def engine(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
    commands: int = typer.Option(200_000, help="Trading commands per stream."),
) -> None:
    """Engine alone, engine + journal (group commit, real fsync, bursts of 100), and replay."""
    runs = [run_all(markets, commands) for markets in (1, 10)]
    one = runs[0]
    summary = {
        "engine_impl": engine_implementation(),
        "cpus": os.cpu_count(),
        "engine_cmds_per_s": one["engine"]["cmds_per_s"],  # type: ignore[index]
        "journaled_cmds_per_s": one["journaled"]["cmds_per_s"],  # type: ignore[index]
        "replay_cmds_per_s": one["replay_cmds_per_s"],
        "p99_us": one["engine"]["p99_us"],  # type: ignore[index]
        "runs": runs,
    }
    if json_output:
        print(json.dumps(summary))
        return
    table = Table(title=f"wcx bench engine ({summary['engine_impl']} engine, {summary['cpus']} CPUs)")
    for column in ("stream", "what", "commands/s", "p50 µs", "p99 µs", "p99.9 µs"):
        table.add_column(column, justify="left" if column in ("stream", "what") else "right")
    for run in runs:
        for what in ("engine", "journaled"):
            f = run[what]
            table.add_row(str(run["stream"]), what, f"{f['cmds_per_s']:,.0f}", str(f["p50_us"]),  # type: ignore[index]
                          str(f["p99_us"]), str(f["p999_us"]))  # type: ignore[index]  # fmt: skip
        table.add_row(str(run["stream"]), "replay", f"{run['replay_cmds_per_s']:,.0f}", "", "", "")
    Console().print(table)
    print("journaled latency is per command: submit of its burst of 100 to acknowledgement after fsync")
