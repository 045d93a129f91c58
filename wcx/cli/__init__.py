"""The `wcx` command line: one typer app, sub-commands in their own modules."""

from __future__ import annotations

import typer

from wcx.cli import admin, audit, backup, bench, cluster, custody, demo, dev, kyc, por, serve, verify, wallet

app = typer.Typer(help="WorldClass Crypto Exchange", no_args_is_help=True, add_completion=False)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("migrate")(dev.migrate)
app.command("verify")(verify.verify)
app.add_typer(bench.app, name="bench")
app.add_typer(dev.app, name="dev")
app.add_typer(audit.app, name="audit")
app.add_typer(backup.app, name="backup")
app.add_typer(custody.app, name="custody")
app.add_typer(por.app, name="por")
app.add_typer(admin.app, name="admin")
app.add_typer(kyc.app, name="kyc")
app.add_typer(cluster.app, name="cluster")
app.add_typer(wallet.app, name="wallet")


def main() -> None:
    """Entry point of the `wcx` console script."""
    app()
