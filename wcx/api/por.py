"""Proof-of-reserves endpoints under /api/v1: the published round (public) and the caller's proofs.

A round is a snapshot of every user's liability per asset, committed to a Merkle sum tree
(`wcx.custody.por`); the root hashes and totals are public, and each user can fetch an inclusion
proof of their own balances and check it offline with `wcx por verify`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from wcx.api.access import private
from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.api.public import runtime_of
from wcx.custody.por_rounds import Round, latest_round, user_proofs
from wcx.primitives import format_amount
from wcx.runtime import Runtime

router = APIRouter(tags=["proof of reserves"])

Reader = Annotated[Principal, Depends(private(Permission.READ))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


class RootOut(BaseModel):
    """One asset's published root: total liabilities (decimal and minor units) and its hash."""

    asset: str
    root_hash: str
    total: str
    total_minor: str
    users: int


class ReserveOut(BaseModel):
    """An exchange wallet's on-chain balance recorded with the round."""

    asset: str
    tier: str
    address: str
    balance: str
    checked_at: datetime


class RoundOut(BaseModel):
    """The newest published proof-of-reserves round."""

    round: int
    created_at: datetime
    engine_seq: int
    roots: list[RootOut]
    reserves: list[ReserveOut]


class MyProofsOut(BaseModel):
    """The caller's inclusion proof in every asset tree of the newest round (verify with `wcx por verify`)."""

    round: int
    created_at: datetime
    user_id: int
    proofs: list[dict[str, Any]]


async def _published(runtime: Runtime) -> Round:
    async with runtime.db.connect() as connection:
        published = await latest_round(connection)
    if published is None:
        raise ApiError(404, "POR_NOT_PUBLISHED", "no proof-of-reserves round has been published yet")
    return published


@router.get("/proof-of-reserves")
async def published_round(runtime: RuntimeDep) -> RoundOut:
    """The newest round's roots and totals per asset, with the reserves recorded for it."""
    published = await _published(runtime)
    scales = {asset: root.scale for asset, root in published.roots.items()}
    scales.update(
        {asset: scale for asset, scale in runtime.engine.state.assets.items() if asset not in scales}
    )
    return RoundOut(
        round=published.id,
        created_at=published.created_at,
        engine_seq=published.engine_seq,
        roots=[
            RootOut(
                asset=root.asset,
                root_hash=root.root_hash,
                total=format_amount(root.total, root.scale),
                total_minor=str(root.total),
                users=root.leaf_count,
            )
            for root in sorted(published.roots.values(), key=lambda r: r.asset)
        ],
        reserves=[
            ReserveOut(
                asset=row.asset,
                tier=row.tier,
                address=row.address,
                balance=format_amount(row.balance, scales[row.asset]),
                checked_at=row.checked_at,
            )
            for row in published.reserves
        ],
    )


@router.get("/proof-of-reserves/me")
async def my_proofs(principal: Reader, runtime: RuntimeDep) -> MyProofsOut:
    """The caller's inclusion proofs (one per asset they held at the round)."""
    published = await _published(runtime)
    async with runtime.db.connect() as connection:
        proofs = await user_proofs(connection, published, principal.user_id)
    return MyProofsOut(
        round=published.id, created_at=published.created_at, user_id=principal.user_id, proofs=proofs
    )
