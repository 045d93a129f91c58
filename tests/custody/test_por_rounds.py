"""Publishing proof-of-reserves rounds on real databases (SQLite file and PostgreSQL) from a busy engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update
from store.conftest import exchange, rich_commands

from wcx.custody.por import verify_proof
from wcx.custody.por_rounds import (
    PorIntegrityError,
    ReserveRow,
    forget_cached_trees,
    latest_round,
    prune_leaves,
    publish_round,
    record_reserves,
    user_proofs,
)
from wcx.custody.tables import por_leaves, por_roots
from wcx.engine.state import SYSTEM_ACCOUNTS, EngineState

from .conftest import Database, run

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _busy_engine() -> EngineState:
    """Funded traders after 400 mixed commands: trades, fees, open orders, withdrawal holds."""
    journal, flow = exchange(accounts=12, seed=5)
    for command in rich_commands(flow, journal.engine, 400, seed=5):
        journal.apply(command)
    return journal.engine.state


def _user_balances(state: EngineState) -> dict[str, dict[int, int]]:
    """Computed independently of the tree code: available + held of each non-system account."""
    out: dict[str, dict[int, int]] = {}
    for account in state.accounts.values():
        if account.id in SYSTEM_ACCOUNTS:
            continue
        for asset in set(account.available) | set(account.held):
            out.setdefault(asset, {})[account.id] = account.available.get(asset, 0) + account.held.get(
                asset, 0
            )
    return out


def test_liabilities_equal_the_engines_user_balances_and_every_proof_verifies(database: Database) -> None:
    state = _busy_engine()
    expected = _user_balances(state)
    # Holds are liabilities too.
    assert any(b.held for account in state.accounts.values() for b in account.balances.values())

    async def body() -> None:
        async with database.connect() as db:
            async with db.connect() as connection:
                assert await latest_round(connection) is None
            async with db.begin() as connection:
                published = await publish_round(connection, state, now=NOW)
            assert published.engine_seq == state.last_seq
            for asset, users in expected.items():
                assert published.roots[asset].total == sum(users.values())
                assert published.roots[asset].leaf_count == len(users)
            async with db.connect() as connection:
                assert (await latest_round(connection)) == published
                for user in {user for users in expected.values() for user in users}:
                    proofs = await user_proofs(connection, published, user)
                    assert {p["asset"] for p in proofs} == {
                        a for a, users in expected.items() if user in users
                    }
                    for proof in proofs:
                        checked = verify_proof(
                            proof, user_id=user, published_root=published.roots[proof["asset"]].root_hash
                        )
                        assert checked.balance == expected[proof["asset"]][user]
                assert await user_proofs(connection, published, 10**9) == []

    run(body())


def test_reserves_are_recorded_with_a_round_and_a_later_round_is_the_latest(database: Database) -> None:
    state = _busy_engine()

    async def body() -> None:
        async with database.connect() as db:
            async with db.begin() as connection:
                first = await publish_round(connection, state, now=NOW)
                row = ReserveRow("BTC", "cold", "bcrt1qexample", 12_345_678_901, NOW)
                await record_reserves(connection, first.id, [row])
            async with db.begin() as connection:
                second = await publish_round(connection, state, now=NOW)
            async with db.connect() as connection:
                newest = await latest_round(connection)
            assert newest is not None and newest.id == second.id > first.id
            assert newest.reserves == []
            # Fresh salts per round: the same balances commit to different roots.
            assert newest.roots["BTC"].root_hash != first.roots["BTC"].root_hash
            assert newest.roots["BTC"].total == first.roots["BTC"].total
            async with db.connect() as connection:
                assert (await latest_round(connection)) is not None

    run(body())


def test_altered_leaves_are_detected_when_serving_proofs(database: Database) -> None:
    state = _busy_engine()
    holder = next(a.id for a in state.accounts.values() if a.id > 0 and a.available.get("BTC", 0) > 0)

    async def body() -> None:
        async with database.connect() as db:
            async with db.begin() as connection:
                published = await publish_round(connection, state, now=NOW)
            # Someone edits stored balances after publication; proofs must not silently change.
            async with db.begin() as connection:
                await connection.execute(
                    update(por_leaves)
                    .where(por_leaves.c.round_id == published.id, por_leaves.c.asset == "BTC")
                    .values(balance=0)
                )
            forget_cached_trees()
            async with db.connect() as connection:
                with pytest.raises(PorIntegrityError, match="do not rebuild its published root"):
                    await user_proofs(connection, published, holder)

    run(body())


def test_old_rounds_keep_their_roots_but_lose_their_leaves(database: Database) -> None:
    state = _busy_engine()

    async def body() -> None:
        async with database.connect() as db:
            rounds = []
            for _ in range(3):
                async with db.begin() as connection:
                    rounds.append(await publish_round(connection, state, now=NOW))
            async with db.begin() as connection:
                deleted = await prune_leaves(connection, keep_rounds=2)
            assert deleted == sum(root.leaf_count for root in rounds[0].roots.values()) > 0
            async with db.connect() as connection:
                counts = dict(
                    (
                        await connection.execute(
                            select(por_leaves.c.round_id, func.count()).group_by(por_leaves.c.round_id)
                        )
                    ).all()
                )
                assert set(counts) == {rounds[1].id, rounds[2].id}
                assert (
                    await connection.execute(select(func.count()).select_from(por_roots))
                ).scalar() == 3 * len(rounds[0].roots)
                with pytest.raises(ValueError, match="at least the newest"):
                    await prune_leaves(connection, keep_rounds=0)

    run(body())
