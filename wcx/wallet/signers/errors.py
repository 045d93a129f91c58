"""Signer exceptions: one root so callers can catch every signing failure."""

from __future__ import annotations


class SignerError(Exception):
    """Signing failed or a signer is misconfigured; nothing was signed."""


class SignerUnavailableError(SignerError):
    """The signing device cannot be reached (token missing, wrong PIN, library not loadable)."""


class KeyNotFoundError(SignerError):
    """The configured key is not on the device."""


class InsecureKeyError(SignerError):
    """The key on the device is extractable or not sensitive: refused for a hot wallet."""
