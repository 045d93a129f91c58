"""`wcx kyc …`: re-screen approved users against the configured lists, show the tiers."""

from __future__ import annotations

import asyncio
import json

import typer

from wcx.cli.dev import _settings
from wcx.config.markets import DEFAULT_MARKETS_FILE, load_reference_data
from wcx.kyc import KycConfigError, KycError, KycService, create_kyc_service, load_kyc_settings
from wcx.store.db import create_engine
from wcx.store.migrate import upgrade

app = typer.Typer(help="KYC: screening lists and tiers.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """KYC: screening lists and tiers."""


def _service() -> tuple[KycService, str]:
    settings = _settings()
    try:
        kyc_settings = load_kyc_settings(wcx_env=settings.wcx_env, data_dir=settings.data_dir)
        data = load_reference_data(settings.markets_file or DEFAULT_MARKETS_FILE)
        service = create_kyc_service(kyc_settings, {a.code: a.scale for a in data.assets})
    except KycConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="KYC settings") from None
    return service, settings.resolved_database_url()


async def _rescreen(service: KycService, url: str) -> tuple[list[str], int]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            return await service.refresh_lists(conn, list(service.screener.lists.values()))
    finally:
        await engine.dispose()


@app.command("rescreen")
def rescreen() -> None:
    """Load KYC_SANCTIONS_FILES; if any list is new or changed, re-screen every approved user.

    Prints {"changed": [...], "reopened": N}; reopened cases wait in the review queue and their
    users' withdrawals are paused. Safe to run while the server runs (it only uses the database).
    """
    service, url = _service()
    changed, reopened = asyncio.run(_rescreen(service, url))
    typer.echo(json.dumps({"changed": changed, "reopened": reopened}))


async def _rotate(service: KycService, url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await service.rotate_keys(conn)
    finally:
        await engine.dispose()


@app.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt every KYC document and all personal data under KYC_ENCRYPTION_KEY.

    Set the new key as KYC_ENCRYPTION_KEY and the old one in KYC_ENCRYPTION_OLD_KEYS (servers read
    both meanwhile), run this, then drop the old key. Prints {"documents": N, "submissions": M}.
    """
    service, url = _service()
    try:
        documents, submissions = asyncio.run(_rotate(service, url))
    except KycError as exc:
        typer.echo(f"{exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"documents": documents, "submissions": submissions}))


@app.command("tiers")
def tiers() -> None:
    """Print the configured tiers and their limits as JSON."""
    service, _ = _service()
    typer.echo(
        json.dumps([service.limits_view(t.level).model_dump() for t in service.config.tiers], indent=2)
    )
