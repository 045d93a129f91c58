"""Per-user deposit addresses: derived watch-only on first request, persisted, looked up by the watcher."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_utils import is_hex_address, to_checksum_address
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wcx.wallet.addresses import derive_address
from wcx.wallet.config import ChainKind, ChainSpec
from wcx.wallet.deposits.tables import deposit_addresses


async def deposit_address(
    db: AsyncEngine, chain: ChainSpec, user_id: int, *, now: datetime | None = None
) -> str:
    """The user's deposit address on `chain`, derived (index = user id) and stored on first use."""
    async with db.connect() as connection:
        found = await _address_of(connection, chain.name, user_id)
    if found is not None:
        return found
    address = derive_address(chain.kind, chain.network, chain.xpub, user_id)
    row = {
        "chain": chain.name,
        "user_id": user_id,
        "address_index": user_id,
        "address": address,
        "created_at": now or datetime.now(UTC),
    }
    try:
        async with db.begin() as connection:
            await connection.execute(insert(deposit_addresses).values(**row))
    except IntegrityError:
        pass  # a concurrent request stored it first: same user, same index, same address
    async with db.connect() as connection:
        stored = await _address_of(connection, chain.name, user_id)
    if stored != address:
        # The chain's key changed since this user's address was stored: never hand out an address
        # the configured key cannot sweep, and never silently re-point a user's address.
        raise RuntimeError(
            f"stored {chain.name} deposit address of user {user_id} differs from the derived one"
        )
    return address


async def _address_of(connection: AsyncConnection, chain: str, user_id: int) -> str | None:
    query = select(deposit_addresses.c.address).where(
        deposit_addresses.c.chain == chain, deposit_addresses.c.user_id == user_id
    )
    return (await connection.execute(query)).scalar()


def canonical(kind: ChainKind, address: str) -> str:
    """The stored form of an address: EIP-55 on Ethereum, lower-case bech32 on Bitcoin."""
    if kind is ChainKind.ETHEREUM:
        return str(to_checksum_address(address)) if is_hex_address(address) else address
    return address.lower()


async def watched_addresses(connection: AsyncConnection, chain: ChainSpec) -> dict[str, tuple[int, str]]:
    """Every deposit address on `chain`: lower-cased address -> (user id, address as stored)."""
    rows = await connection.execute(
        select(deposit_addresses.c.address, deposit_addresses.c.user_id).where(
            deposit_addresses.c.chain == chain.name
        )
    )
    return {address.lower(): (int(user), address) for address, user in rows}


async def owner_of(connection: AsyncConnection, chain: ChainSpec, address: str) -> int | None:
    """The user whose deposit address on `chain` is `address` (any letter case), or None."""
    query = select(deposit_addresses.c.user_id).where(
        deposit_addresses.c.chain == chain.name, deposit_addresses.c.address == canonical(chain.kind, address)
    )
    user = (await connection.execute(query)).scalar()
    return None if user is None else int(user)
