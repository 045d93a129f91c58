"""Deposits: per-user watch-only addresses, the chain watchers and deposit history."""

from wcx.wallet.deposits.addresses import deposit_address, owner_of, watched_addresses
from wcx.wallet.deposits.service import DepositWatchers, list_deposits
from wcx.wallet.deposits.watcher import DepositWatcher, PollResult

__all__ = [
    "DepositWatcher",
    "DepositWatchers",
    "PollResult",
    "deposit_address",
    "list_deposits",
    "owner_of",
    "watched_addresses",
]
