"""SoftHSM2 fixtures: one temporary SOFTHSM2_CONF per test process, a fresh token per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wcx.testing.softhsm import USER_PIN, SoftHsm, softhsm
from wcx.wallet.signers import Pkcs11Signer, generate_hot_key

__all__ = ["softhsm"]  # the session fixture, shared with tests/custody


@pytest.fixture
def token(softhsm: SoftHsm) -> str:
    """A freshly initialised token's label (user PIN `USER_PIN`)."""
    return softhsm.init_token()


@pytest.fixture
def hsm_signer(softhsm: SoftHsm, token: str) -> Iterator[Pkcs11Signer]:
    """A signer over a hot key generated inside a fresh token."""
    generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    signer = Pkcs11Signer(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")
    yield signer
    signer.close()
