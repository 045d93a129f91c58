"""Deposit watcher metrics (`wallet_deposit*`): height lag, reorgs, credits and reorged credits."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

HEIGHT_LAG = Gauge(
    "wallet_deposit_watcher_height_lag_blocks",
    "Blocks between the node's tip and the newest block the deposit watcher has scanned, by chain.",
    ["chain"],
)
TIP_HEIGHT = Gauge(
    "wallet_deposit_watcher_tip_height",
    "The node's newest block height as last seen by the deposit watcher, by chain.",
    ["chain"],
)
REORGS = Counter(
    "wallet_deposit_reorgs_total",
    "Chain reorganisations the deposit watcher detected (a remembered block hash changed), by chain.",
    ["chain"],
)
CREDITED = Counter(
    "wallet_deposits_credited_total",
    "Deposits credited through the engine after their confirmations, by chain and asset.",
    ["chain", "asset"],
)
REORGED_AFTER_CREDIT = Counter(
    "wallet_deposits_reorged_after_credit_total",
    "ALERT: credited deposits whose block left the chain (balances untouched; needs an operator).",
    ["chain", "asset"],
)
PENDING = Gauge(
    "wallet_deposits_pending",
    "Deposits seen on chain and waiting for their confirmations, by chain.",
    ["chain"],
)
HELD = Gauge(
    "wallet_deposits_held",
    "Confirmed deposits held by a gate (a KYC deposit limit), re-checked every round, by chain.",
    ["chain"],
)
ERRORS = Counter(
    "wallet_deposit_watcher_errors_total",
    "Deposit watcher rounds that failed (node unreachable, RPC error), by chain.",
    ["chain"],
)
