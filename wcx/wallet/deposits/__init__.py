"""Deposits: per-user watch-only addresses, the chain watchers and deposit history."""

from wcx.wallet.deposits.addresses import deposit_address, owner_of, watched_addresses
from wcx.wallet.deposits.service import (
    DepositRecord,
    DepositWatchers,
    deposits_needing_attention,
    list_deposits,
    release_held,
)
from wcx.wallet.deposits.watcher import DepositWatcher, Gate, PollResult

__all__ = [
    "DepositRecord",
    "DepositWatcher",
    "DepositWatchers",
    "Gate",
    "PollResult",
    "deposit_address",
    "deposits_needing_attention",
    "list_deposits",
    "owner_of",
    "release_held",
    "watched_addresses",
]
