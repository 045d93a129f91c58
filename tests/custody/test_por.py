"""The Merkle sum tree: inclusion proofs verify, tampering of any kind fails, sums stay non-negative."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wcx.custody.por import (
    MAX_SUM,
    Leaf,
    LiabilityError,
    ProofError,
    SumTree,
    build_trees,
    liabilities,
    verify_proof,
)
from wcx.engine.state import FEE_ACCOUNT, OMNIBUS_ACCOUNT, Account, EngineState


def _tree(balances: dict[int, int]) -> SumTree:
    return build_trees({"BTC": balances})["BTC"]


def _proof(tree: SumTree, user: int) -> dict[str, Any]:
    return tree.proof(user, asset="BTC", scale=8, round_id=7)


def test_every_users_proof_verifies_against_the_root() -> None:
    rng = random.Random(4)
    balances = {user: rng.randrange(0, 10**12) for user in range(1, 38)}  # not a power of two
    tree = _tree(balances)
    assert tree.root.sum == sum(balances.values())
    for user, balance in balances.items():
        checked = verify_proof(_proof(tree, user), user_id=user, published_root=tree.root.hash.hex())
        assert checked.balance == balance
        assert checked.total == sum(balances.values())
        assert checked.round == 7 and checked.asset == "BTC"


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.integers(1, 10**9), st.integers(0, 10**30), min_size=1, max_size=20))
def test_proofs_verify_for_any_set_of_balances(balances: dict[int, int]) -> None:
    tree = _tree(balances)
    for user in balances:
        assert verify_proof(_proof(tree, user), user_id=user).total == sum(balances.values())


def _tampered(mutate: Any) -> dict[str, Any]:
    tree = _tree({1: 500, 2: 700, 3: 1100, 4: 1300, 5: 1700})
    proof = copy.deepcopy(_proof(tree, 3))
    mutate(proof)
    return proof


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["leaf"].update(balance="1101"), "does not lead to the root"),
        (lambda p: p["leaf"].update(salt="00" * 16), "does not lead to the root"),
        (lambda p: p["path"][0].update(sum=str(int(p["path"][0]["sum"]) + 1)), "does not lead to the root"),
        (lambda p: p["path"][1].update(sum="0"), "does not lead to the root"),
        (lambda p: p["path"][0].update(hash="ab" * 32), "does not lead to the root"),
        (lambda p: p["root"].update(sum=str(int(p["root"]["sum"]) + 1)), "root sum differs"),
        (lambda p: p["root"].update(hash="cd" * 32), "does not lead to the root"),
        (lambda p: p["path"][0].update(sum="-500"), "non-negative decimal"),
        (lambda p: p["leaf"].update(balance="-1"), "non-negative decimal"),
        (lambda p: p["path"][0].update(sum=str(MAX_SUM + 1)), "exceeds 2\\*\\*128-1"),
        (
            lambda p: p["path"][0].update(side="left" if p["path"][0]["side"] == "right" else "right"),
            "puts the",
        ),
        (lambda p: p["leaf"].update(index=p["leaf"]["index"] ^ 1), "puts the"),
        (lambda p: p["leaf"].update(index=1 << 10), "does not fit"),
        (lambda p: p["path"].pop(), "does not lead to the root|does not fit"),
        (lambda p: p.pop("leaf"), "malformed proof"),
        (lambda p: p["leaf"].update(user_key="zz"), "not hex"),
        (lambda p: p.update(version=2), "unsupported proof version"),
    ],
)
def test_tampered_proofs_fail(mutate: Any, message: str) -> None:
    with pytest.raises(ProofError, match=message):
        verify_proof(_tampered(mutate), user_id=3)


def test_a_proof_is_bound_to_its_user_and_published_root() -> None:
    tree = _tree({1: 5, 2: 6, 3: 7})
    proof = _proof(tree, 2)
    with pytest.raises(ProofError, match="not keyed by this user"):
        verify_proof(proof, user_id=3)
    with pytest.raises(ProofError, match="not the published root"):
        verify_proof(proof, user_id=2, published_root="00" * 32)


def test_sibling_hashes_reveal_neither_user_nor_balance() -> None:
    first = _tree({1: 5, 2: 6})
    second = _tree({1: 5, 2: 6})
    # Fresh salts: the same balances give unrelated leaves, so a sibling hash cannot be guessed.
    assert _proof(first, 1)["path"][0]["hash"] != _proof(second, 1)["path"][0]["hash"]


def test_negative_or_oversized_balances_cannot_enter_the_tree() -> None:
    with pytest.raises(LiabilityError):
        SumTree([Leaf(1, b"\0" * 16, -1)])
    with pytest.raises(LiabilityError):
        SumTree([Leaf(1, b"\0" * 16, MAX_SUM), Leaf(2, b"\0" * 16, 1)])
    with pytest.raises(LiabilityError, match="twice"):
        SumTree([Leaf(1, b"\0" * 16, 1), Leaf(1, b"\1" * 16, 2)])


def test_single_user_and_empty_trees() -> None:
    single = _tree({9: 42})
    assert verify_proof(_proof(single, 9), user_id=9).total == 42
    assert _proof(single, 9)["path"] == []
    empty = _tree({})
    assert empty.root.sum == 0 and empty.position(1) is None


def test_liabilities_are_user_available_plus_held_without_system_accounts() -> None:
    state = EngineState(assets={"BTC": 8, "USDT": 6})
    for account_id, available, held in ((1, 5, 3), (2, 0, 0), (FEE_ACCOUNT, 9, 0), (OMNIBUS_ACCOUNT, -8, 0)):
        account = state.accounts[account_id] = Account(account_id)
        balance = account.balance("BTC")
        balance.available, balance.held = available, held
    state.accounts[3] = Account(3)
    state.accounts[3].balance("USDT").held = 12
    assert liabilities(state) == {"BTC": {1: 8, 2: 0}, "USDT": {3: 12}}
    state.accounts[2].balance("BTC").available = -1
    with pytest.raises(LiabilityError, match="negative"):
        liabilities(state)
