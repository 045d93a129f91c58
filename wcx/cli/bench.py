"""`wcx bench …`: benchmarks that print their figures."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks (figures printed, never asserted).", no_args_is_help=True)


@app.command("engine")
def engine(json_output: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Engine alone, engine with journal, and replay, for 1 and 10 markets."""
    raise typer.Exit(0)
