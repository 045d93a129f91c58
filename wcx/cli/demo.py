"""`wcx demo`: demo markets with simulated traders, trades and top of book shown live."""

from __future__ import annotations

import typer


def demo(seconds: float = typer.Option(0.0, help="Stop after this many seconds (0: run until Ctrl-C).")) -> None:
    """Run the demo markets with simulated traders."""
    raise typer.Exit(0)
