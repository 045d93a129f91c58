"""`wcx admin …`: bootstrap admin accounts from a shell on the server (no admin listener needed)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from wcx.admin.accounts import NewAdmin, create_admin
from wcx.admin.permissions import Role
from wcx.admin.state import AdminState
from wcx.api.errors import ApiError
from wcx.cli.dev import _settings
from wcx.config.settings import Settings
from wcx.store.db import create_engine
from wcx.store.migrate import upgrade

app = typer.Typer(help="Admin accounts.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Admin accounts."""


async def _create(settings: Settings, email: str, role: Role, password: str) -> NewAdmin:
    engine = create_engine(settings.resolved_database_url())
    try:
        await upgrade(engine)
        state = AdminState(settings)
        try:
            return await create_admin(
                engine, state, email=email, role=role, password=password, created_by="cli"
            )
        finally:
            await state.store.aclose()
    finally:
        await engine.dispose()


@app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The admin's email (their sign-in name).")],
    role: Annotated[
        Role, typer.Option(help="support, compliance, treasury, operator or superadmin.")
    ] = Role.SUPERADMIN,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="WCX_ADMIN_PASSWORD",
            help="Prompted for when not given (or WCX_ADMIN_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Create an admin account and print its TOTP secret (enrol it in an authenticator app now)."""
    try:
        created = asyncio.run(_create(_settings(), email, role, password))
    except ApiError as exc:
        typer.echo(f"error: {exc.code}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"admin {created.admin_id} {created.email} ({created.role.value}) created")
    typer.echo(f"totp secret: {created.totp_secret}")
    typer.echo(f"otpauth uri: {created.otpauth_uri}")
