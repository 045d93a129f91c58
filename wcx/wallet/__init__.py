"""Wallet service: chain adapters, deposit watchers, the withdrawal pipeline and signers."""
