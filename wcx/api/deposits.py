"""Deposit endpoints under /api/v1: the caller's deposit address per asset and deposit history.

Addresses are derived watch-only from the chain's extended public key (`wcx.wallet.addresses`); the
API process holds no private key. Credits happen in the deposit watcher, never here.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from wcx.api.access import private
from wcx.api.errors import ApiError
from wcx.api.kyc_limits import engine_prices
from wcx.api.principal import Permission, Principal
from wcx.api.public import runtime_of
from wcx.primitives import format_amount
from wcx.runtime import Runtime
from wcx.wallet.config import ChainsConfig, WalletSettings, load_chains
from wcx.wallet.deposits import Gate, deposit_address, list_deposits
from wcx.wallet.deposits.service import MAX_LIST

router = APIRouter(tags=["deposits"])

Reader = Annotated[Principal, Depends(private(Permission.READ))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
AssetQuery = Annotated[str, Query(min_length=1, max_length=16, pattern=r"^[A-Z0-9]+$")]

_chains: weakref.WeakKeyDictionary[Runtime, ChainsConfig] = weakref.WeakKeyDictionary()


def chains_of(runtime: Runtime) -> ChainsConfig:
    """The chains configuration for this runtime, read once (CHAINS_FILE or the shipped file)."""
    config = _chains.get(runtime)
    if config is None:
        config = _chains[runtime] = load_chains(WalletSettings(), development=runtime.settings.development)
    return config


def set_chains(runtime: Runtime, config: ChainsConfig) -> None:
    """Use `config` for `runtime` (`wcx serve` wiring and tests)."""
    _chains[runtime] = config


def kyc_deposit_gate(runtime: Runtime) -> Gate:
    """The KYC tier's deposit limits as the watchers' gate, valued at the engine's last prices.

    A deposit over the limit (or of an asset without a price yet) is held with the KYC code, asked
    again every round, and credited once it fits or when the back office releases it.
    """

    async def gate(user_id: int, asset: str, amount: int) -> str | None:
        prices = await engine_prices(runtime)  # waits for the projection: usage sees the newest credits
        async with runtime.db.connect() as connection:
            refusal = await runtime.kyc.check_deposit_allowed(connection, user_id, asset, amount, prices)
        return None if refusal is None else refusal.code

    return gate


class DepositAddressOut(BaseModel):
    """Where to send an asset; credited after `confirmations` blocks."""

    asset: str
    chain: str
    network: str
    address: str
    confirmations: int
    contract: str | None = None


class DepositOut(BaseModel):
    """A deposit seen on chain: pending until its confirmations, then credited.

    `held`: confirmed but over a limit (the code is in `note`), credited once it fits; `reorged`: its
    block left the chain after it was credited (under review); `refused`: the engine refused it.
    """

    id: int
    asset: str
    chain: str
    tx_hash: str
    index: int
    address: str
    amount: str
    status: str
    note: str
    block_height: int
    confirmations: int
    confirmations_required: int
    seen_at: datetime
    credited_at: datetime | None


def _unknown(asset: str) -> ApiError:
    return ApiError(404, "UNKNOWN_ASSET", f"no deposits for asset {asset!r}")


@router.get("/deposit-address")
async def get_deposit_address(asset: AssetQuery, principal: Reader, runtime: RuntimeDep) -> DepositAddressOut:
    """The caller's deposit address for `asset` (one per chain, created on first request)."""
    try:
        chain, spec = chains_of(runtime).locate(asset)
    except KeyError:
        raise _unknown(asset) from None
    if runtime.engine.state.assets.get(asset) != spec.decimals:
        # the engine could not credit it (asset not listed, or another scale): hand out no address
        raise _unknown(asset)
    if not spec.available:
        raise ApiError(
            409, "DEPOSITS_UNAVAILABLE", f"{asset} deposits are not enabled on {chain.network.value}"
        )
    address = await deposit_address(runtime.db, chain, principal.user_id)
    return DepositAddressOut(
        asset=asset,
        chain=chain.name,
        network=chain.network.value,
        address=address,
        confirmations=spec.confirmations,
        contract=spec.contract or None,
    )


@router.get("/deposits")
async def get_deposits(
    principal: Reader,
    runtime: RuntimeDep,
    asset: Annotated[str | None, Query(min_length=1, max_length=16, pattern=r"^[A-Z0-9]+$")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="an id: older deposits only")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
) -> list[DepositOut]:
    """The caller's deposits, newest first."""
    config = chains_of(runtime)
    if asset is not None:
        try:
            config.locate(asset)
        except KeyError:
            raise _unknown(asset) from None
    records = await list_deposits(runtime.db, principal.user_id, asset=asset, before=before, limit=limit)
    decimals = {a.code: a.decimals for chain in config.chains for a in chain.assets}
    return [
        DepositOut(
            id=r.id,
            asset=r.asset,
            chain=r.chain,
            tx_hash=r.tx_hash,
            index=r.index,
            address=r.address,
            amount=format_amount(r.amount, decimals[r.asset]),
            status=r.status,
            note=r.note,
            block_height=r.block_height,
            confirmations=r.confirmations,
            confirmations_required=r.confirmations_required,
            seen_at=r.seen_at,
            credited_at=r.credited_at,
        )
        for r in records
    ]
