"""BatchedLookup: concurrent misses share queries, each caller gets its own key's value, errors reach all."""

from __future__ import annotations

import asyncio

import pytest

from wcx.batched import BatchedLookup

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """asyncio only."""
    return "asyncio"


async def test_misses_arriving_during_a_query_share_the_next_one() -> None:
    queries: list[list[int]] = []

    async def fetch_many(keys: list[int]) -> dict[int, str]:
        queries.append(keys)
        await asyncio.sleep(0.01)
        return {key: f"v{key}" for key in keys if key % 7}

    lookup: BatchedLookup[int, str] = BatchedLookup(fetch_many)
    first = [asyncio.create_task(lookup.get(n)) for n in range(3)]
    await asyncio.sleep(0.002)  # the first query is in flight now
    later = [asyncio.create_task(lookup.get(n)) for n in range(3, 60)]
    results = await asyncio.gather(*first, *later)
    assert results == [f"v{n}" if n % 7 else None for n in range(60)]
    assert queries == [[0, 1, 2], list(range(3, 60))]
    assert lookup.queries == 2


async def test_a_failed_query_fails_its_callers_and_the_next_batch_still_runs() -> None:
    calls = 0

    async def fetch_many(keys: list[str]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.005)
        if calls == 1:
            raise OSError("database gone")
        return {key: len(key) for key in keys}

    lookup: BatchedLookup[str, int] = BatchedLookup(fetch_many)
    failing = asyncio.create_task(lookup.get("a"))
    await asyncio.sleep(0.001)
    fine = asyncio.create_task(lookup.get("bbb"))
    with pytest.raises(OSError, match="database gone"):
        await failing
    assert await fine == 3


async def test_a_cancelled_caller_does_not_break_the_others() -> None:
    async def fetch_many(keys: list[int]) -> dict[int, int]:
        await asyncio.sleep(0.01)
        return {key: key * 2 for key in keys}

    lookup: BatchedLookup[int, int] = BatchedLookup(fetch_many, limit=2)
    tasks = [asyncio.create_task(lookup.get(n)) for n in range(5)]
    await asyncio.sleep(0)
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert [d for n, d in enumerate(done) if n != 1] == [0, 4, 6, 8]
    assert isinstance(done[1], asyncio.CancelledError)
    assert lookup.queries == 3  # at most `limit` keys per query
