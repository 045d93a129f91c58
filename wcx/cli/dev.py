"""`wcx migrate` and `wcx dev …`: database migrations and development conveniences.

`wcx dev credit` must not write the journal while a server owns it (the data directory lock says
so). When a server is running it asks that server through `POST /dev/credit`, which exists only in
development and only answers loopback callers; otherwise it opens the data directory itself.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import httpx
import typer

from wcx.api.app import dev_credit_user
from wcx.api.errors import ApiError
from wcx.config.settings import Settings, SettingsError, load_settings
from wcx.observability.logging import configure_logging
from wcx.runtime import Runtime, lock_is_held, read_lock_info
from wcx.store.db import create_engine
from wcx.store.migrate import current_revision, upgrade

app = typer.Typer(
    help="Development conveniences (refused outside WCX_ENV=development).", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Development conveniences (refused outside WCX_ENV=development)."""


def _settings() -> Settings:
    """The settings, with logs going to stderr as JSON (stdout carries the command's result)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise typer.BadParameter(str(exc), param_hint="settings") from None
    configure_logging(settings.log_level)
    return settings


def migrate() -> None:
    """Bring the database (DATABASE_URL, or SQLite in the data directory) to the newest schema."""

    async def run() -> str | None:
        engine = create_engine(_settings().resolved_database_url())
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    typer.echo(f"database at revision {asyncio.run(run())}")


async def _credit_offline(settings: Settings, email: str, asset: str, amount: str) -> dict[str, Any]:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        return (await dev_credit_user(runtime, email, asset, amount)).model_dump()
    finally:
        await runtime.stop()


def _credit_online(url: str, email: str, asset: str, amount: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/dev/credit", json={"email": email, "asset": asset, "amount": amount}, timeout=30
    )
    body: dict[str, Any] = response.json()
    if response.is_error:
        error = body.get("error", {})
        raise ApiError(response.status_code, error.get("code", "HTTP_ERROR"), error.get("message", ""))
    return body


@app.command("credit")
def credit(
    email: Annotated[str, typer.Option(help="The user's email.")],
    asset: Annotated[str, typer.Option(help="Asset code, e.g. USDT.")],
    amount: Annotated[str, typer.Option(help="Decimal amount, e.g. 1000 or 0.5.")],
) -> None:
    """Credit a user through an engine deposit command (development only)."""
    settings = _settings()
    if not settings.development:
        typer.echo("error: wcx dev credit runs only with WCX_ENV=development", err=True)
        raise typer.Exit(2)
    try:
        if lock_is_held(settings.data_dir):
            url = read_lock_info(settings.data_dir).get("api")
            if not url:
                typer.echo(f"error: {settings.data_dir} is in use but its owner serves no API", err=True)
                raise typer.Exit(1)
            result = _credit_online(url, email, asset, amount)
        else:
            result = asyncio.run(_credit_offline(settings, email, asset, amount))
    except ApiError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result))
