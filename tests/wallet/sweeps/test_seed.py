"""The sealed deposit seed in SoftHSM2: it decrypts only under its token key, which never leaves the token,
and only with the watch-only keys it was sealed with."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11 import exceptions as p11

from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.signers.token import open_session
from wcx.wallet.sweeps.seed import DepositSeedError, SealedSeed, seal_seed, unseal_seed

from .conftest import softhsm, token

__all__ = ["softhsm", "token"]


def test_the_seed_opens_only_as_sealed_and_its_key_stays_in_the_token(
    softhsm: SoftHsm, token: str, tmp_path: Path
) -> None:
    access = {"module": softhsm.module, "token_label": token, "pin": USER_PIN}
    seed = secrets.token_bytes(32)
    sealed = seal_seed(seed, **access, key_label="deposit-seed", eth_xpub="xpub-eth", btc_xpub="vpub-btc")
    assert seed not in sealed.ciphertext and len(sealed.ciphertext) == 32 + 16  # GCM tag appended
    path = tmp_path / "deposit-seed.json"
    path.write_text(json.dumps(sealed.to_json()), encoding="utf-8")
    assert seed.hex() not in path.read_text(encoding="utf-8")
    assert unseal_seed(SealedSeed.load(path), **access) == seed

    session = open_session(softhsm.module, token, USER_PIN)
    try:
        key = session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label="deposit-seed")
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]
    finally:
        session.close()

    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    for edited in (replace(sealed, eth_xpub="xpub-attacker"), replace(sealed, ciphertext=flipped)):
        with pytest.raises(DepositSeedError, match="does not decrypt"):
            unseal_seed(edited, **access)
    with pytest.raises(DepositSeedError, match="no key labelled"):
        unseal_seed(replace(sealed, key_label="other"), **access)
    with pytest.raises(DepositSeedError, match="already holds"):
        seal_seed(seed, **access, key_label="deposit-seed", eth_xpub="x", btc_xpub="y")
    path.write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(DepositSeedError, match="not a deposit-seed file"):
        SealedSeed.load(path)
