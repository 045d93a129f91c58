"""`wcx serve`: the API and admin listeners, engine, journal and projector in one process and one loop.

`--role` splits the exchange over processes once JOURNAL_URL puts the command log on JetStream:
`engine` (hot-standby engine nodes; the leader also projects to SQL), `gateway` (the public API,
as many processes as needed), `admin` (the admin API), `wallet` (wallet services). `all`, the
default, keeps everything in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
import typer
import uvicorn
import uvloop
from sqlalchemy import select

from wcx.admin import create_admin_app
from wcx.api.app import create_app
from wcx.api.auth import auth_state
from wcx.api.auth.accounts import prune_sessions, register
from wcx.api.auth.schemas import RegisterRequest
from wcx.api.deposits import kyc_deposit_gate, set_chains
from wcx.api.ops import create_ops_app
from wcx.cli.por import server_publisher
from wcx.cluster import ClusterSettings, load_cluster_settings
from wcx.config.markets import DEFAULT_MARKETS_FILE, load_reference_data
from wcx.config.settings import Settings, SettingsError, load_settings
from wcx.custody.publisher import hot_reserve_wallets
from wcx.engine import CancelAll, Command, CreditDeposit, Event
from wcx.kyc import KycConfigError, load_kyc_settings
from wcx.observability.logging import configure_logging, get_logger
from wcx.observability.tracing import configure_tracing
from wcx.primitives import parse_amount
from wcx.runtime import DataDirLockedError, Runtime
from wcx.simulator.traders import DemoTraders
from wcx.store.audit_check import watch_audit_chain
from wcx.store.schema import users
from wcx.wallet.config import ChainConfigError, ChainsConfig, WalletSettings, load_chains
from wcx.wallet.deposits import DepositWatchers
from wcx.wallet.signers import SignerError
from wcx.wallet.sweeps import SweepProcessor
from wcx.wallet.sweeps.auto import AutoSweepSettings
from wcx.wallet.sweeps.wiring import build_auto_sweeper
from wcx.wallet.withdrawals import WithdrawalSettings
from wcx.wallet.withdrawals.metrics import observe_pending
from wcx.wallet.withdrawals.wiring import build_processor

log = get_logger(__name__)

DEMO_RATE = 20
"""Commands per second the simulated traders send in `wcx serve --demo` (a lively book, a quiet CPU)."""
DEMO_USERS = {"alice@demo.wcx.local": "alice-demo-password", "bob@demo.wcx.local": "bob-demo-password"}
DEMO_FUNDS = {"USDT": "100000", "BTC": "2", "ETH": "20"}
_ACCOUNT_FIELDS = ("account", "maker_account", "taker_account")
DEPOSED_EXIT = 3
"""Exit status of an engine process that lost its leadership: its supervisor restarts it as a follower."""


class Role(StrEnum):
    """What one `wcx serve` process runs."""

    ALL = "all"
    ENGINE = "engine"
    GATEWAY = "gateway"
    ADMIN = "admin"
    WALLET = "wallet"


ROLE_SERVICES: dict[Role, list[Callable[[Runtime], Coroutine[Any, Any, None]]]] = {role: [] for role in Role}
"""More long-running services per role, run next to the listeners (the deposit watchers and the
withdrawal processor run in the roles all and wallet)."""


QUEUE_METRICS_INTERVAL_S = 60.0


async def _watch_audit_chain(runtime: Runtime) -> None:
    await watch_audit_chain(runtime.db)


async def _watch_withdrawal_queue(runtime: Runtime) -> None:
    """Refresh the withdrawal-queue gauges every minute, whether or not a processor runs anywhere."""
    while True:
        try:
            await observe_pending(runtime.db, datetime.now(UTC))
        except Exception as exc:  # a database hiccup must not end the process; the next round retries
            log.warning("withdrawal queue metrics failed", error=str(exc))
        await asyncio.sleep(QUEUE_METRICS_INTERVAL_S)


SESSION_PRUNE_INTERVAL_S = 3600.0


async def _prune_sessions(runtime: Runtime) -> None:
    """Delete long-expired refresh-token rows every hour (every refresh rotation adds one)."""
    while True:
        try:
            pruned = await prune_sessions(runtime.db, datetime.now(UTC))
            if pruned:
                log.info("expired sessions pruned", rows=pruned)
        except Exception as exc:  # a database hiccup must not end the process; the next round retries
            log.warning("session pruning failed", error=str(exc))
        await asyncio.sleep(SESSION_PRUNE_INTERVAL_S)


# Once per exchange (the all process, or the admin role): the audit chain's periodic walk feeds
# `audit_chain_intact` (AuditChainBroken), the queue gauges feed WithdrawalQueueStale even when no
# hot wallet is configured and approved withdrawals wait for a processor; expired sessions are pruned.
for _role in (Role.ALL, Role.ADMIN):
    ROLE_SERVICES[_role] += [_watch_audit_chain, _watch_withdrawal_queue, _prune_sessions]


class EngineStoppedError(RuntimeError):
    """The engine node of this process stopped (deposed or failed)."""


def listen(host: str, port: int) -> socket.socket:
    """A bound listening address (port 0 picks a free one), or OSError naming what failed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming the protocol matters: asyncio enables TCP_NODELAY on accepted sockets only when the
    # listener says IPPROTO_TCP; without it every response waits ~40 ms on delayed ACKs (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to `serve_forever`: two servers share one loop and handler."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing (uvicorn would replace the loop's SIGINT/SIGTERM handlers while serving)."""
        yield


def _server(app: Any, sock: socket.socket, level: str) -> tuple[uvicorn.Server, Coroutine[Any, Any, None]]:
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level=level.lower(),
        ws="websockets-sansio",  # named, not "auto": wsproto, if installed, measured no faster
        # permessage-deflate keeps a compression context per connection, so every book diff would be
        # compressed once per subscriber: ~15 µs each, 40 % of the fan-out CPU, to shrink ~200-byte
        # JSON frames. Clients that offer it get plain frames (the extension is optional in RFC 7692).
        ws_per_message_deflate=False,
    )
    server = _EmbeddedServer(config)
    return server, server.serve(sockets=[sock])


async def serve_forever(
    settings: Settings,
    sockets: tuple[socket.socket | None, socket.socket | None],
    *,
    demo: bool,
    role: Role = Role.ALL,
    cluster: ClusterSettings | None = None,
) -> None:
    """Start the runtime, the role's listeners and services; stop on SIGINT/SIGTERM or when one fails."""
    runtime = Runtime(settings, role=role.value, cluster=cluster)
    await runtime.start()
    try:
        wallet = role in (Role.ALL, Role.WALLET)
        watchers = deposit_watchers(runtime, watch=wallet)
        # One proof-of-reserves publisher per exchange: the all process, or the admin role.
        por_publisher = server_publisher(runtime) if role in (Role.ALL, Role.ADMIN) else None
        withdrawals = (
            await build_processor(runtime.db, runtime, development=settings.development) if wallet else None
        )
    except BaseException:
        await runtime.stop()
        raise
    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task[Any]] = []
    # Roles without the public API (engine, wallet) serve only /healthz, /readyz and /metrics there.
    api_app = create_app if role in (Role.ALL, Role.GATEWAY) else create_ops_app
    for sock, make_app in zip(sockets, (api_app, create_admin_app), strict=True):
        if sock is not None:
            server, serving = _server(make_app(runtime), sock, settings.log_level)
            servers.append(server)
            tasks.append(asyncio.create_task(serving))
    if not runtime.cluster.enabled:
        # The all process owns its data directory; the lock file says where it listens.
        addresses = {
            name: "http://{}:{}".format(*sock.getsockname()[:2])
            for name, sock in zip(("api", "admin"), sockets, strict=True)
            if sock is not None
        }
        runtime.lock.write_info(pid=os.getpid(), **addresses)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    helpers = [asyncio.create_task(run_demo(runtime))] if demo else []
    watchers.start()
    if withdrawals is not None:
        pacing = WithdrawalSettings()
        run = withdrawals.run_forever(stop, pacing.withdrawal_poll_s, pacing.hot_wallet_check_s)
        helpers.append(asyncio.create_task(run))
        # Sweeps share the hot wallets (gas top-ups are signed by the same key, under the nonce lock).
        chains = load_chains(development=settings.development)
        sweeps = SweepProcessor(runtime.db, chains, withdrawals.wallets)
        helpers.append(asyncio.create_task(sweeps.run_forever(stop, pacing.withdrawal_poll_s)))
        try:
            auto = await build_auto_sweeper(runtime.db, chains, withdrawals.wallets)
        except SignerError as exc:
            log.error("ALERT: the deposit seed does not open; no automatic sweeps", error=str(exc))
            auto = None
        if auto is not None:
            helpers.append(asyncio.create_task(auto.run_forever(stop, AutoSweepSettings().sweep_interval_s)))
    if por_publisher is not None:
        if withdrawals is not None:  # the hot wallets it signs for are reserves too
            por_publisher.add_wallets(*hot_reserve_wallets(withdrawals.wallets.values()))
        por_publisher.start()
    helpers += [asyncio.create_task(service(runtime)) for service in ROLE_SERVICES[role]]
    if runtime.node is not None:
        helpers.append(asyncio.create_task(_watch_node(runtime)))
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopping, *tasks, *helpers], return_when=asyncio.FIRST_COMPLETED)
        for task in done - {stopping}:
            task.result()  # a listener that ended on its own (port taken), a failed service: say why
    finally:
        stopping.cancel()
        for task in helpers:
            task.cancel()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, *helpers, return_exceptions=True)
        await watchers.stop()
        if withdrawals is not None:
            await withdrawals.close()
        if por_publisher is not None:
            await por_publisher.stop()
        await runtime.stop()
        log.info("stopped", role=role.value)


async def _watch_node(runtime: Runtime) -> None:
    """End the process when its engine node stops: a deposed leader must not keep serving."""
    node = runtime.node
    assert node is not None
    await node.stopped.wait()
    raise EngineStoppedError(f"engine node {node.node_id} stopped: {node.failure!r}")


def deposit_watchers(runtime: Runtime, *, watch: bool = True) -> DepositWatchers:
    """Deposit watchers for the chains that have a node configured (none by default: no node needed).

    Only `watch` processes (roles all and wallet) watch chains; every role serves the chain config."""
    settings = WalletSettings()
    config = load_chains(settings, development=runtime.settings.development)
    set_chains(runtime, config)
    chains = tuple(c for c in config.chains if c.rpc_url) if settings.deposit_watchers and watch else ()
    watched = ChainsConfig(chains)
    watched.check_scales(runtime.engine.state.assets)
    return DepositWatchers(watched, runtime.db, runtime.submit, gate=kyc_deposit_gate(runtime))


# --- demo --------------------------------------------------------------------------------------------


async def _user_id(runtime: Runtime, email: str) -> int | None:
    async with runtime.db.connect() as connection:
        return (await connection.execute(select(users.c.id).where(users.c.email == email))).scalar()


async def ensure_user(runtime: Runtime, email: str, password: str) -> int:
    """The id of the user with `email`, registered through the auth service if missing (verified in dev)."""
    user_id = await _user_id(runtime, email)
    if user_id is None:
        await register(runtime.db, auth_state(runtime), RegisterRequest(email=email, password=password))
        user_id = await _user_id(runtime, email)
    assert user_id is not None, f"registering {email} created no user"
    return int(user_id)


def _remap(item: Any, accounts: dict[int, int]) -> Any:
    """`item` with its account fields translated through `accounts` (unknown accounts become 0)."""
    changes = {name: accounts.get(getattr(item, name), 0) for name in _ACCOUNT_FIELDS if hasattr(item, name)}
    return msgspec.structs.replace(item, **changes) if changes else item


async def run_demo(runtime: Runtime) -> None:
    """Funded demo users (credentials printed) and simulated traders submitting through the sequencer."""
    state = runtime.engine.state
    for email, password in DEMO_USERS.items():
        user_id = await ensure_user(runtime, email, password)
        deposits: list[Command] = [
            CreditDeposit(
                user_id, asset, parse_amount(amount, state.assets[asset]), f"demo-fund:{email}:{asset}"
            )
            for asset, amount in DEMO_FUNDS.items()
            if asset in state.assets
        ]
        await runtime.submit_many(deposits)  # fixed references: a restart does not pay twice
        print(f"demo user {email}  password {password}", flush=True)
    traders = DemoTraders(load_reference_data(runtime.settings.markets_file or DEFAULT_MARKETS_FILE))
    # The traders number their accounts 1..n; here they are users like any other.
    to_user = {
        account: await ensure_user(runtime, f"sim-{account}@demo.wcx.local", secrets.token_urlsafe(24))
        for account in traders.accounts
    }
    to_trader = {user: account for account, user in to_user.items()}
    # A restart forgets what the traders had open; start them from an empty slate.
    await runtime.submit_many([CancelAll(user) for user in to_user.values()])
    await runtime.submit_many([_remap(command, to_user) for command in traders.funding()])
    while True:
        events: list[Event] = await runtime.submit(_remap(traders.next_command(), to_user))
        traders.observe(_remap(event, to_trader) for event in events)
        await asyncio.sleep(1 / DEMO_RATE)


def serve(
    demo: Annotated[bool, typer.Option(help="Development only: demo users and simulated traders.")] = False,
    host: Annotated[
        str | None, typer.Option(help="API listen address (default API_HOST, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="API port (default API_PORT, 8080).")] = None,
    admin_port: Annotated[int | None, typer.Option(help="Admin port (default ADMIN_PORT, 8081).")] = None,
    role: Annotated[
        Role, typer.Option(help="What this process runs; roles other than all need JOURNAL_URL=nats://…")
    ] = Role.ALL,
) -> None:
    """Run the exchange: API and admin listeners, engine, journal and projector (all, or one role)."""
    overrides = {
        name: value
        for name, value in (("api_host", host), ("api_port", port), ("admin_port", admin_port))
        if value is not None
    }
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise typer.BadParameter(str(exc), param_hint="settings") from None
    try:  # KYC secrets are refused here too, before anything starts
        load_kyc_settings(wcx_env=settings.wcx_env, data_dir=settings.data_dir)
    except KycConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="KYC settings") from None
    if demo and not settings.development:
        raise typer.BadParameter("--demo runs only with WCX_ENV=development", param_hint="--demo")
    if demo and role is not Role.ALL:
        raise typer.BadParameter("--demo runs only with --role all", param_hint="--demo")
    try:
        cluster = load_cluster_settings()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="settings") from None
    if role is not Role.ALL and not cluster.enabled:
        raise typer.BadParameter(f"--role {role.value} needs JOURNAL_URL=nats://…", param_hint="--role")
    configure_logging(settings.log_level)
    configure_tracing(settings.otel_exporter_otlp_endpoint)
    try:
        # Bind first: a taken port fails here, before the journal is opened.
        with contextlib.ExitStack() as stack:
            api = admin = None
            if role is not Role.ADMIN:  # the API, or the ops endpoints of the engine and wallet roles
                api = stack.enter_context(listen(settings.api_host, settings.api_port))
            if role in (Role.ALL, Role.ADMIN):
                admin = stack.enter_context(listen(settings.admin_host, settings.admin_port))
            uvloop.run(serve_forever(settings, (api, admin), demo=demo, role=role, cluster=cluster))
    except (DataDirLockedError, OSError, ChainConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except EngineStoppedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(DEPOSED_EXIT) from None
