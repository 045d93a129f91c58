"""Custody: the cold-storage key ceremony (SLIP-39 shares in HSMs), recovery, and proof of reserves."""
