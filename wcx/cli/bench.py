"""`wcx bench …`: benchmarks that print their figures."""

from __future__ import annotations

import json
import os

import typer
from rich.console import Console
from rich.table import Table

from wcx.simulator.api_bench import BenchOptions, iter_rows, run_api_bench
from wcx.simulator.cluster_bench import ClusterBenchOptions, run_cluster_bench
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


@app.command("api")
def api(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
    seconds: float = typer.Option(10.0, help="Duration of each phase."),
    clients: int = typer.Option(128, help="Keep-alive connections in the closed-loop phases."),
    client_procs: int = typer.Option(1, help="Client processes for the HTTP phases."),
    paced_rate: float = typer.Option(2000.0, help="Order commands per second in the paced phase."),
    paced_connections: int = typer.Option(256, help="Connection pool of the paced phase."),
    ws_subscribers: int = typer.Option(1000, help="WebSocket subscribers to book.BTC-USDT."),
    ws_procs: int = typer.Option(4, help="Client processes holding the subscribers."),
    ws_rate: float = typer.Option(50.0, help="Order commands per second while the subscribers listen."),
    users: int = typer.Option(8, help="Users to register (each costs two argon2 hashes)."),
    keys_per_user: int = typer.Option(20, help="API keys per user (the rate limit is per key)."),
    profile: str = typer.Option("", help="Run the server under cProfile and write its stats here."),
    quickack: bool = typer.Option(
        False, help="Clients ACK at once (hides the server's missing TCP_NODELAY)."
    ),
) -> None:
    """A real `wcx serve` driven from client processes: order throughput (REST and WebSocket API), paced
    latency, WS fan-out, floor."""
    options = BenchOptions(
        seconds=seconds,
        clients=clients,
        client_procs=client_procs,
        paced_rate=paced_rate,
        paced_connections=paced_connections,
        ws_subscribers=ws_subscribers,
        ws_procs=ws_procs,
        ws_rate=ws_rate,
        users=users,
        keys_per_user=keys_per_user,
        profile=profile,
        quickack=quickack,
    )
    figures = run_api_bench(options)
    if json_output:
        print(json.dumps(figures))
        return
    table = Table(title=f"wcx bench api ({figures['cpus']} CPUs, {seconds:g} s per phase)")
    columns = ("phase", "rate/s", "p50 ms", "p99 ms", "p99.9 ms", "client CPU", "server CPU", "server µs/req")
    for column in columns:
        table.add_column(column, justify="left" if column == "phase" else "right")
    for row in iter_rows(figures):
        table.add_row(*row)
    Console().print(table)
    ws = figures["phases"]["websocket"]
    print(
        f"acknowledged placements/s {figures['orders_per_s']:,.0f}, order commands/s "
        f"{figures['order_commands_per_s']:,.0f} = {figures['order_to_floor_ratio']:.2f} x the floor; "
        f"over the WebSocket API {figures['ws_api_orders_per_s']:,.0f} placements/s; "
        f"WebSocket: {ws['gaps']} gaps, {ws['drops']} drops while sending {ws_rate:g} order commands/s; "
        f"CPU per delivered diff: server {ws['server_cpu_us_per_diff']:.1f} µs, subscribers "
        f"{ws['subscriber_cpu_us_per_diff']:.1f} µs; load average {ws['load_average'][0]:.2f} → "
        f"{ws['load_average'][1]:.2f}"
    )


@app.command("cluster")
def cluster(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
    seconds: float = typer.Option(10.0, help="Duration of each throughput run."),
    clients: int = typer.Option(64, help="Keep-alive connections placing and cancelling orders."),
    client_procs: int = typer.Option(4, help="Client processes (at least one per gateway)."),
    gateways: str = typer.Option("1,2,4", help="Gateway process counts to measure, comma-separated."),
    lease_ttl: float = typer.Option(5.0, help="LEASE_TTL_S of the engines (bounds the failover time)."),
) -> None:
    """Orders/s and p99 through 1, 2, 4 gateways on the JetStream log vs the file journal; failover time."""
    counts = tuple(int(part) for part in gateways.split(",") if part.strip())
    options = ClusterBenchOptions(
        seconds=seconds, clients=clients, client_procs=client_procs, gateways=counts, lease_ttl=lease_ttl
    )
    figures = run_cluster_bench(options)
    if json_output:
        print(json.dumps(figures))
        return
    table = Table(
        title=f"wcx bench cluster ({figures['cpus']} CPUs, {seconds:g} s per run, {clients} clients)"
    )
    for column in ("setup", "placed/s", "order cmds/s", "p50 ms", "p99 ms", "p99.9 ms", "server CPU"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for run in figures["runs"]:
        table.add_row(run["setup"], f"{run['placed_per_s']:,.0f}", f"{run['order_commands_per_s']:,.0f}",
                      f"{run['p50_ms']:.2f}", f"{run['p99_ms']:.2f}", f"{run['p999_ms']:.2f}",
                      f"{run['server_cpu_cores']:.2f}")  # fmt: skip
    Console().print(table)
    failover = figures["failover"]
    print(
        f"failover (kill -9 of the leader, LEASE_TTL_S={failover['lease_ttl_s']:g}): standby leads after "
        f"{failover['takeover_s']:.2f} s, first order acknowledged after {failover['first_ack_s']:.2f} s"
    )
