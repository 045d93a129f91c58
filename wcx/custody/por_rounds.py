"""Proof-of-reserves rounds: publish the engine's liabilities as salted sum trees, serve user proofs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.custody.por import Leaf, SumTree, build_trees, liabilities
from wcx.custody.tables import por_leaves, por_reserves, por_roots, por_rounds
from wcx.engine.state import EngineState

_INSERT_CHUNK = 2000
_CACHED_TREES = 16


class PorIntegrityError(RuntimeError):
    """Stored leaves no longer rebuild the published root: the database was altered."""


@dataclass(frozen=True, slots=True)
class RootInfo:
    """One asset's published root: hash, total liability (minor units), leaf count, asset scale."""

    asset: str
    scale: int
    root_hash: str
    total: int
    leaf_count: int


@dataclass(frozen=True, slots=True)
class ReserveRow:
    """An on-chain balance recorded with a round."""

    asset: str
    tier: str
    address: str
    balance: int
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class Round:
    """A published round: when, at which engine sequence, its roots and recorded reserves."""

    id: int
    created_at: datetime
    engine_seq: int
    roots: dict[str, RootInfo]
    reserves: list[ReserveRow]


async def publish_round(conn: AsyncConnection, state: EngineState, *, now: datetime) -> Round:
    """Snapshot every user's liability per asset from the engine and persist the trees; the new round."""
    # Read everything from engine memory before the first await: the state must be one instant.
    trees = build_trees(liabilities(state))
    engine_seq = state.last_seq
    scales = dict(state.assets)
    round_id = int(
        (
            await conn.execute(
                insert(por_rounds).values(created_at=now, engine_seq=engine_seq).returning(por_rounds.c.id)
            )
        ).scalar_one()
    )
    for asset, tree in sorted(trees.items()):
        await conn.execute(
            insert(por_roots).values(
                round_id=round_id,
                asset=asset,
                scale=scales[asset],
                root_hash=tree.root.hash.hex(),
                total=tree.root.sum,
                leaf_count=len(tree.leaves),
            )
        )
        rows = [
            {
                "round_id": round_id,
                "asset": asset,
                "position": position,
                "user_id": leaf.user_id,
                "salt": leaf.salt.hex(),
                "balance": leaf.balance,
            }
            for position, leaf in enumerate(tree.leaves)
        ]
        for start in range(0, len(rows), _INSERT_CHUNK):
            await conn.execute(insert(por_leaves), rows[start : start + _INSERT_CHUNK])
        _remember(conn, round_id, asset, tree)
    return await _load_round(conn, round_id)


async def prune_leaves(conn: AsyncConnection, keep_rounds: int) -> int:
    """Delete the leaves of all but the newest `keep_rounds` rounds (roots stay); rows deleted."""
    if keep_rounds < 1:
        raise ValueError("keep at least the newest round's leaves")
    newest = select(por_rounds.c.id).order_by(por_rounds.c.id.desc()).limit(keep_rounds).subquery()
    oldest_kept = (await conn.execute(select(func.min(newest.c.id)))).scalar()
    if oldest_kept is None:
        return 0
    result = await conn.execute(delete(por_leaves).where(por_leaves.c.round_id < oldest_kept))
    return int(result.rowcount or 0)


async def latest_round(conn: AsyncConnection) -> Round | None:
    """The newest published round, None before the first."""
    newest = (await conn.execute(select(func.max(por_rounds.c.id)))).scalar()
    return None if newest is None else await _load_round(conn, int(newest))


async def record_reserves(conn: AsyncConnection, round_id: int, rows: Iterable[ReserveRow]) -> None:
    """Attach on-chain balances (hot and cold wallets) to a round."""
    values = [
        {
            "round_id": round_id,
            "asset": row.asset,
            "tier": row.tier,
            "address": row.address,
            "balance": row.balance,
            "checked_at": row.checked_at,
        }
        for row in rows
    ]
    if values:
        await conn.execute(insert(por_reserves), values)


async def user_proofs(conn: AsyncConnection, published: Round, user_id: int) -> list[dict[str, Any]]:
    """The user's inclusion proof in every asset tree of the round that has a leaf for them."""
    assets = (
        await conn.execute(
            select(por_leaves.c.asset)
            .where(por_leaves.c.round_id == published.id, por_leaves.c.user_id == user_id)
            .order_by(por_leaves.c.asset)
        )
    ).scalars()
    proofs = []
    for asset in list(assets):
        root = published.roots[asset]
        tree = await _tree(conn, published.id, asset, root.root_hash)
        proofs.append(tree.proof(user_id, asset=asset, scale=root.scale, round_id=published.id))
    return proofs


async def _load_round(conn: AsyncConnection, round_id: int) -> Round:
    head = (await conn.execute(select(por_rounds).where(por_rounds.c.id == round_id))).one()
    roots = {
        row.asset: RootInfo(row.asset, row.scale, row.root_hash, row.total, row.leaf_count)
        for row in await conn.execute(select(por_roots).where(por_roots.c.round_id == round_id))
    }
    reserves = [
        ReserveRow(row.asset, row.tier, row.address, row.balance, row.checked_at)
        for row in await conn.execute(
            select(por_reserves)
            .where(por_reserves.c.round_id == round_id)
            .order_by(por_reserves.c.asset, por_reserves.c.tier, por_reserves.c.address)
        )
    ]
    return Round(round_id, head.created_at, head.engine_seq, roots, reserves)


# Rebuilding a tree costs one pass over an asset's leaves; rounds are immutable, so trees are cached
# per database and round for the proofs that follow a publication.
_trees: OrderedDict[tuple[str, int, str], SumTree] = OrderedDict()


def forget_cached_trees() -> None:
    """Drop the cached trees (the next proof rebuilds from stored leaves and re-checks the root)."""
    _trees.clear()


def _cache_key(conn: AsyncConnection, round_id: int, asset: str) -> tuple[str, int, str]:
    return (conn.engine.url.render_as_string(hide_password=True), round_id, asset)


def _remember(conn: AsyncConnection, round_id: int, asset: str, tree: SumTree) -> None:
    _trees[_cache_key(conn, round_id, asset)] = tree
    while len(_trees) > _CACHED_TREES:
        _trees.popitem(last=False)


async def _tree(conn: AsyncConnection, round_id: int, asset: str, root_hash: str) -> SumTree:
    """The round's tree for `asset`, checked against the published root (cache or stored leaves)."""
    key = _cache_key(conn, round_id, asset)
    tree = _trees.get(key)
    if tree is not None and tree.root.hash.hex() == root_hash:
        _trees.move_to_end(key)
        return tree
    result = await conn.execute(
        select(por_leaves.c.user_id, por_leaves.c.salt, por_leaves.c.balance)
        .where(por_leaves.c.round_id == round_id, por_leaves.c.asset == asset)
        .order_by(por_leaves.c.position)
    )
    tree = SumTree([Leaf(row.user_id, bytes.fromhex(row.salt), row.balance) for row in result])
    if tree.root.hash.hex() != root_hash:
        raise PorIntegrityError(
            f"stored {asset} leaves of round {round_id} do not rebuild its published root"
        )
    _remember(conn, round_id, asset, tree)
    return tree
