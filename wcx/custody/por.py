"""Proof of reserves: a Merkle sum tree over user liabilities per asset, inclusion proofs, verification.

Each leaf commits `H(0x00 || user_key || salt || balance)` with `user_key = H("wcx-por-user" || id)`
and a random 16-byte salt, so a sibling hash in someone else's proof reveals neither who nor how
much. Each inner node commits both children's hashes *and* sums,
`H(0x01 || left_hash || left_sum || right_hash || right_sum)`, with sums as unsigned 128-bit
integers: the root sum is the total liability, and a node cannot hide a negative balance because
no sum below zero can be encoded and the verifier checks every sum on the path. Trees are padded
to a power of two with zero-sum leaves, so the leaf count reveals only its next power of two.

This module is pure (no I/O): `wcx.custody.por_rounds` persists rounds, `wcx por verify` checks a
proof offline with `verify_proof`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wcx.engine.state import SYSTEM_ACCOUNTS, EngineState

PROOF_VERSION = 1
SUM_BYTES = 16
MAX_SUM = 2 ** (8 * SUM_BYTES) - 1
SALT_BYTES = 16
HASH_BYTES = 32
MAX_DEPTH = 40  # 2**40 leaves: far beyond any user count, bounds the work of verifying a proof


class ProofError(ValueError):
    """A proof does not verify; the message says which check failed."""


class LiabilityError(ValueError):
    """A balance that cannot be a liability (negative or too large) was offered to the tree."""


@dataclass(frozen=True, slots=True)
class Node:
    """A tree node: its hash and the sum of the balances below it."""

    hash: bytes
    sum: int


@dataclass(frozen=True, slots=True)
class Leaf:
    """One user's liability in one asset."""

    user_id: int
    salt: bytes
    balance: int

    @property
    def user_key(self) -> bytes:
        """The hash of the user id the leaf is keyed and ordered by."""
        return user_key(self.user_id)


def user_key(user_id: int) -> bytes:
    """`H("wcx-por-user" 0x00 || decimal user id)`: what a user recomputes to find their leaf."""
    return hashlib.sha256(b"wcx-por-user\x00" + str(user_id).encode()).digest()


def leaf_node(key: bytes, salt: bytes, balance: int) -> Node:
    """The node of a leaf; LiabilityError for a balance outside 0..2**128-1."""
    _check_sum(balance, LiabilityError)
    digest = hashlib.sha256(b"\x00" + key + salt + balance.to_bytes(SUM_BYTES, "big")).digest()
    return Node(digest, balance)


def parent(left: Node, right: Node) -> Node:
    """The node over two children, committing both hashes and both sums."""
    total = left.sum + right.sum
    _check_sum(total, LiabilityError)
    digest = hashlib.sha256(
        b"\x01"
        + left.hash
        + left.sum.to_bytes(SUM_BYTES, "big")
        + right.hash
        + right.sum.to_bytes(SUM_BYTES, "big")
    ).digest()
    return Node(digest, total)


def padding_node(position: int) -> Node:
    """A zero-sum filler leaf, distinct per position so no two subtrees are identical."""
    return Node(hashlib.sha256(b"\x02" + position.to_bytes(8, "big")).digest(), 0)


class SumTree:
    """A Merkle sum tree over one asset's leaves, ordered by user key."""

    def __init__(self, leaves: list[Leaf]) -> None:
        self.leaves = sorted(leaves, key=lambda leaf: leaf.user_key)
        keys = [leaf.user_key for leaf in self.leaves]
        if len(set(keys)) != len(keys):
            raise LiabilityError("a user appears twice in one asset's tree")
        self._positions = {leaf.user_id: index for index, leaf in enumerate(self.leaves)}
        size = 1
        while size < len(self.leaves):
            size *= 2
        level = [leaf_node(leaf.user_key, leaf.salt, leaf.balance) for leaf in self.leaves]
        level += [padding_node(position) for position in range(len(level), size)]
        self._levels = [level]
        while len(level) > 1:
            level = [parent(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self._levels.append(level)

    @property
    def root(self) -> Node:
        """The root: its hash is published, its sum is the total liability."""
        return self._levels[-1][0]

    def position(self, user_id: int) -> int | None:
        """The leaf index of a user, None when the user has no leaf."""
        return self._positions.get(user_id)

    def proof(self, user_id: int, *, asset: str, scale: int, round_id: int) -> dict[str, Any]:
        """The inclusion proof of a user's leaf as a JSON-ready document."""
        index = self._positions[user_id]
        leaf = self.leaves[index]
        path = []
        position = index
        for level in self._levels[:-1]:
            sibling = level[position ^ 1]
            path.append(
                {
                    "side": "left" if position % 2 else "right",
                    "hash": sibling.hash.hex(),
                    "sum": str(sibling.sum),
                }
            )
            position //= 2
        return {
            "version": PROOF_VERSION,
            "round": round_id,
            "asset": asset,
            "scale": scale,
            "root": {"hash": self.root.hash.hex(), "sum": str(self.root.sum)},
            "leaf": {
                "index": index,
                "user_key": leaf.user_key.hex(),
                "salt": leaf.salt.hex(),
                "balance": str(leaf.balance),
            },
            "path": path,
        }


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """What a proof established: this balance is included in a tree whose root sums to `total`."""

    asset: str
    round: int
    balance: int
    total: int
    root_hash: str


def verify_proof(
    proof: Mapping[str, Any], *, user_id: int | None = None, published_root: str | None = None
) -> VerifiedProof:
    """Check a proof: leaf from its parts, every sum non-negative and in range, path up to the root.

    With `user_id`, the leaf must be keyed by that user; with `published_root`, the root must be the
    one the exchange published for that round. ProofError says which check failed.
    """
    try:
        if proof["version"] != PROOF_VERSION:
            raise ProofError(f"unsupported proof version {proof['version']!r}")
        leaf = proof["leaf"]
        key = _hex(leaf["user_key"], HASH_BYTES, "leaf user_key")
        salt = _hex(leaf["salt"], SALT_BYTES, "leaf salt")
        balance = _amount(leaf["balance"], "leaf balance")
        index = leaf["index"]
        path = proof["path"]
        root_hash = _hex(proof["root"]["hash"], HASH_BYTES, "root hash")
        root_sum = _amount(proof["root"]["sum"], "root sum")
        asset, round_id = str(proof["asset"]), int(proof["round"])
    except (KeyError, TypeError) as exc:
        raise ProofError(f"malformed proof: missing or mistyped {exc}") from exc
    if user_id is not None and key != user_key(user_id):
        raise ProofError("the leaf is not keyed by this user id")
    if not isinstance(path, list) or len(path) > MAX_DEPTH:
        raise ProofError("the path must be a list of at most 40 steps")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2 ** len(path):
        raise ProofError("the leaf index does not fit the path length")
    node = leaf_node(key, salt, balance)
    position = index
    for depth, step in enumerate(path):
        try:
            sibling = Node(_hex(step["hash"], HASH_BYTES, "path hash"), _amount(step["sum"], "path sum"))
            side = step["side"]
        except (KeyError, TypeError) as exc:
            raise ProofError(f"malformed path step {depth}: {exc}") from exc
        expected_side = "left" if position % 2 else "right"
        if side != expected_side:
            raise ProofError(
                f"path step {depth} puts the sibling on the {side}, the index says {expected_side}"
            )
        try:
            node = parent(sibling, node) if position % 2 else parent(node, sibling)
        except LiabilityError as exc:
            raise ProofError(f"path step {depth}: {exc}") from exc
        position //= 2
    if node.hash != root_hash:
        raise ProofError("the path does not lead to the root hash (a tampered leaf, hash or sum)")
    if node.sum != root_sum:
        raise ProofError("the root sum differs from the sum the path commits to")
    if published_root is not None and root_hash.hex() != published_root.lower():
        raise ProofError("the proof's root is not the published root for this round")
    return VerifiedProof(
        asset=asset, round=round_id, balance=balance, total=root_sum, root_hash=root_hash.hex()
    )


def liabilities(state: EngineState) -> dict[str, dict[int, int]]:
    """Per asset, each user's liability (available + held); system accounts are not users."""
    result: dict[str, dict[int, int]] = {asset: {} for asset in state.assets}
    for account in state.accounts.values():
        if account.id in SYSTEM_ACCOUNTS or account.id <= 0:
            continue
        for asset in account.available.keys() | account.held.keys():
            total = account.available.get(asset, 0) + account.held.get(asset, 0)
            if total < 0:
                raise LiabilityError(f"account {account.id} has a negative {asset} balance")
            result.setdefault(asset, {})[account.id] = total
    return result


def build_trees(balances: Mapping[str, Mapping[int, int]]) -> dict[str, SumTree]:
    """One tree per asset with fresh random salts."""
    return {
        asset: SumTree(
            [Leaf(user, secrets.token_bytes(SALT_BYTES), amount) for user, amount in users.items()]
        )
        for asset, users in balances.items()
    }


def _check_sum(value: int, error: type[ValueError]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SUM:
        raise error(f"sum {value!r} is outside 0..2**128-1 (negative balances cannot be committed)")


def _hex(value: Any, size: int, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError) as exc:
        raise ProofError(f"{name} is not hex") from exc
    if len(raw) != size:
        raise ProofError(f"{name} must be {size} bytes")
    return raw


def _amount(value: Any, name: str) -> int:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 40:
        raise ProofError(f"{name} must be a non-negative decimal integer string")
    amount = int(value)
    if amount > MAX_SUM:
        raise ProofError(f"{name} exceeds 2**128-1")
    return amount
