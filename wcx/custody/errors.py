"""Custody exceptions: each message is meant for the ceremony operator, naming what to fix."""

from __future__ import annotations


class CustodyError(Exception):
    """A ceremony step was refused; nothing secret was written."""


class ShareError(CustodyError):
    """A share file is missing, unreadable, corrupted or from another share set."""


class FingerprintMismatchError(CustodyError):
    """The recombined secret is not the recorded cold wallet (wrong passphrase or wrong shares)."""
