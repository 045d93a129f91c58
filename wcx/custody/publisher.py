"""Publishing proof-of-reserves rounds: settings, the wallets file, and the periodic publisher task."""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.custody.por_rounds import Round, prune_leaves, publish_round, record_reserves
from wcx.custody.reserves import BalanceSource, ReservesReport, ReserveWallet, Tier, check_reserves
from wcx.engine.state import EngineState
from wcx.observability.logging import get_logger
from wcx.wallet.deposits.tables import deposit_addresses
from wcx.wallet.withdrawals.processor import HotWallet

DEFAULT_WALLETS_FILE = Path(__file__).resolve().parents[2] / "config" / "reserves.toml"

log = get_logger("wcx.custody.por")


class PorSettings(BaseSettings):
    """POR_INTERVAL_S (0: never publish automatically), POR_KEEP_ROUNDS and POR_WALLETS_FILE."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    por_interval_s: float = Field(86400.0, ge=0)
    # Leaves are users x assets per round; older rounds keep their published roots only.
    por_keep_rounds: int = Field(30, ge=1)
    por_wallets_file: Path = DEFAULT_WALLETS_FILE


class ReservesConfigError(ValueError):
    """The reserves wallets file is unusable; the message names the entry."""


def load_wallets(path: Path, chain_of: Callable[[str], str]) -> list[ReserveWallet]:
    """The wallets of a reserves TOML file whose asset `chain_of` places on a chain (others are skipped)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ReservesConfigError(f"{path}: {exc}") from exc
    wallets = []
    for number, entry in enumerate(document.get("wallets", []), start=1):
        where = f"{path.name} wallet {number}"
        try:
            asset, tier, address = str(entry["asset"]), Tier(entry["tier"]), str(entry["address"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ReservesConfigError(f"{where}: needs asset, tier (hot|cold) and address ({exc})") from exc
        try:
            chain = chain_of(asset)
        except KeyError:
            # A deployment without that chain (e.g. Ethereum only) has nothing of it to count.
            log.warning(
                "reserves wallet skipped: no configured chain carries its asset", asset=asset, where=where
            )
            continue
        if not address:
            raise ReservesConfigError(f"{where}: empty address")
        wallets.append(ReserveWallet(asset=asset, chain=chain, tier=tier, address=address))
    return wallets


@dataclass(frozen=True, slots=True)
class Publication:
    """A published round and, when wallets and nodes were available, its reserves report."""

    round: Round
    reserves: ReservesReport | None


class PorPublisher:
    """Publishes a round every `interval_s` from the live engine state and records on-chain reserves."""

    def __init__(
        self,
        db: AsyncEngine,
        state_of: Callable[[], EngineState],
        *,
        interval_s: float,
        keep_rounds: int = 30,
        wallets: Sequence[ReserveWallet] = (),
        nodes: Mapping[str, BalanceSource] | None = None,
        deposit_assets: Mapping[str, Sequence[str]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._state_of = state_of
        self._interval_s = interval_s
        self._keep_rounds = keep_rounds
        self._nodes = dict(nodes or {})
        # Only wallets whose chain has a node can be checked; the others are reported once here.
        self._wallets = [w for w in wallets if w.chain in self._nodes]
        for wallet in wallets:
            if wallet.chain not in self._nodes:
                log.warning(
                    "reserves wallet not checked: no node", chain=wallet.chain, address=wallet.address
                )
        # chain -> assets whose balances on every deposit address of the chain are counted (tier deposit)
        self._deposit_assets = {c: a for c, a in (deposit_assets or {}).items() if c in self._nodes}
        self._clock = clock
        self._on_stop = on_stop
        self._task: asyncio.Task[None] | None = None

    def add_wallets(self, wallets: Sequence[ReserveWallet], nodes: Mapping[str, BalanceSource]) -> None:
        """Count more wallets (the hot wallets the withdrawal processor signs for), read through `nodes`."""
        known = {(w.asset, w.address.lower()) for w in self._wallets}
        for wallet in wallets:
            if (wallet.asset, wallet.address.lower()) in known:
                continue
            self._nodes.setdefault(wallet.chain, nodes[wallet.chain])
            self._wallets.append(wallet)
            known.add((wallet.asset, wallet.address.lower()))

    async def publish_once(self) -> Publication:
        """Publish one round now, then read and record the reserves against its totals."""
        now = self._clock()
        state = self._state_of()
        async with self._db.begin() as connection:
            published = await publish_round(connection, state, now=now)
            await prune_leaves(connection, self._keep_rounds)
        wallets = self._wallets + await deposit_reserve_wallets(self._db, self._deposit_assets)
        if not wallets:
            return Publication(published, None)
        report = await check_reserves(
            wallets,
            self._nodes,
            {asset: root.total for asset, root in published.roots.items()},
            dict(state.assets),
            now=now,
        )
        async with self._db.begin() as connection:
            await record_reserves(connection, published.id, report.rows)
        log.info("proof of reserves published", round=published.id, covered=report.covered)
        return Publication(published, report)

    def start(self) -> None:
        """Publish every interval in the background (nothing when the interval is 0)."""
        if self._interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="por-publisher")

    async def stop(self) -> None:
        """Stop the background task (and release what `on_stop` releases, e.g. node connections)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._on_stop is not None:
            await self._on_stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.publish_once()
            except Exception:  # a node or database hiccup must not end the schedule
                log.exception("proof-of-reserves publication failed")
            await asyncio.sleep(self._interval_s)


async def deposit_reserve_wallets(
    db: AsyncEngine, assets_by_chain: Mapping[str, Sequence[str]]
) -> list[ReserveWallet]:
    """Every user's deposit address on each chain, once per asset of that chain (funds not yet swept)."""
    if not assets_by_chain:
        return []
    t = deposit_addresses
    async with db.connect() as connection:
        rows = await connection.execute(
            select(t.c.chain, t.c.address)
            .where(t.c.chain.in_(list(assets_by_chain)))
            .order_by(t.c.address_index)
        )
        found = rows.all()
    return [
        ReserveWallet(asset=asset, chain=chain, tier=Tier.DEPOSIT, address=address)
        for chain, address in found
        for asset in assets_by_chain[chain]
    ]


def hot_reserve_wallets(hot: Iterable[HotWallet]) -> tuple[list[ReserveWallet], dict[str, BalanceSource]]:
    """The withdrawal processor's hot wallets as reserves: every asset each one pays out."""
    wallets: list[ReserveWallet] = []
    nodes: dict[str, BalanceSource] = {}
    for wallet in hot:
        nodes[wallet.chain] = wallet.node
        for asset in sorted({wallet.native, *wallet.routes}):
            wallets.append(
                ReserveWallet(asset=asset, chain=wallet.chain, tier=Tier.HOT, address=wallet.address)
            )
    return wallets, nodes
