"""`wcx cluster …`: look at and check an exchange running on the replicated log (JOURNAL_URL)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import msgspec
import typer

from wcx.cluster import load_cluster_settings
from wcx.cluster.log import connect
from wcx.cluster.settings import ClusterSettings
from wcx.cluster.verify import node_statuses, verify_cluster

app = typer.Typer(help="The replicated log: engine nodes, leadership, verification.", no_args_is_help=True)


def _settings() -> ClusterSettings:
    settings = load_cluster_settings()
    if not settings.enabled:
        raise typer.BadParameter("JOURNAL_URL=nats://… is not set", param_hint="JOURNAL_URL")
    return settings


async def _statuses(settings: ClusterSettings) -> list[dict[str, object]]:
    nc = await connect(settings, name="wcx-cluster-status")
    try:
        return [msgspec.structs.asdict(status) for status in await node_statuses(nc, settings)]
    finally:
        await nc.close()


@app.command("status")
def status() -> None:
    """Every engine node that answers: role, term, seq, stream seq, state hash (one JSON object a line)."""
    for entry in asyncio.run(_statuses(_settings())):
        print(json.dumps(entry))


@app.command("verify")
def verify() -> None:
    """Replay the log: each node's and snapshot's hash must equal the replay's at its seq (else exit 1)."""
    verdict = asyncio.run(verify_cluster(_settings()))
    print(json.dumps(dataclasses.asdict(verdict) | {"ok": verdict.ok}, indent=2))
    if not verdict.ok:
        raise typer.Exit(1)
