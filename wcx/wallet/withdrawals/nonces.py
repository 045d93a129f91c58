"""The hot wallets' next nonces (`wallet_nonces`), shared by everything the hot key signs on a chain
(withdrawals, sweep gas top-ups): `max(stored, node's pending count)` is the next one to use."""

from __future__ import annotations

import asyncio
import weakref

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from wcx.wallet.withdrawals.tables import wallet_nonces

_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()


def nonce_lock(chain: str, address: str) -> asyncio.Lock:
    """Held from reading the next nonce to recording the signed transaction, by every signer of `address`
    in this process (withdrawals and sweep top-ups run side by side in the wallet role)."""
    lock = _locks.get((chain, address))
    if lock is None:
        lock = _locks[(chain, address)] = asyncio.Lock()
    return lock


async def stored_nonce(conn: AsyncConnection, chain: str, address: str) -> int:
    """The next nonce recorded for `address` on `chain` (0 before its first transaction)."""
    t = wallet_nonces
    found = await conn.execute(select(t.c.next_nonce).where(t.c.chain == chain, t.c.address == address))
    value = found.scalar()
    return 0 if value is None else int(value)


async def store_nonce(conn: AsyncConnection, chain: str, address: str, next_nonce: int) -> None:
    """Record the next nonce of `address` on `chain`."""
    t = wallet_nonces
    where = (t.c.chain == chain, t.c.address == address)
    result = await conn.execute(update(t).where(*where).values(next_nonce=next_nonce))
    if result.rowcount == 0:
        await conn.execute(t.insert().values(chain=chain, address=address, next_nonce=next_nonce))


async def release_nonce(conn: AsyncConnection, chain: str, address: str, nonce: int) -> None:
    """A refused transaction never used `nonce`: hand it to the next one, unless a later one took it."""
    if await stored_nonce(conn, chain, address) == nonce + 1:
        await store_nonce(conn, chain, address, nonce)
