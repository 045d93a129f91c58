"""Pkcs11Signer against a real SoftHSM2 token."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pkcs11
import pytest
from eth_account import Account
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from prometheus_client import REGISTRY

from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.signers import (
    InsecureKeyError,
    KeyNotFoundError,
    Pkcs11Signer,
    Signer,
    SignerError,
    SignerSettings,
    SignerUnavailableError,
    build_signer,
    ethereum_address,
    generate_hot_key,
    sign_ethereum_transaction,
)
from wcx.wallet.signers.hsm import SECP256K1_PARAMS
from wcx.wallet.signers.signature import HALF_N, parse_token_signature
from wcx.wallet.signers.token import open_session


def _digests(count: int) -> list[bytes]:
    return [hashlib.sha256(f"digest {i}".encode()).digest() for i in range(count)]


def test_signatures_verify_and_recover_to_the_tokens_public_key(hsm_signer: Pkcs11Signer) -> None:
    assert isinstance(hsm_signer, Signer)
    public = hsm_signer.public_key()
    assert len(public) == 33 and public[0] in (2, 3)
    for digest in _digests(24):
        signature = hsm_signer.sign_digest(digest)
        assert signature.s <= HALF_N
        assert signature.verify(public, digest)
        assert signature.recover(digest) == public


def test_the_token_produces_high_s_that_the_signer_normalises(
    softhsm: SoftHsm, hsm_signer: Pkcs11Signer
) -> None:
    token_label = hsm_signer.key_id.removeprefix("pkcs11:").split("/")[0]
    session = open_session(softhsm.module, token_label, USER_PIN)
    try:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="hot")
        raw_s = [parse_token_signature(key.sign(d, mechanism=Mechanism.ECDSA))[1] for d in _digests(40)]
    finally:
        session.close()
    assert any(s > HALF_N for s in raw_s), (
        "40 raw token signatures without one high s: normalisation untested"
    )
    assert all(hsm_signer.sign_digest(d).s <= HALF_N for d in _digests(40))


def test_an_ethereum_transaction_signed_in_the_hsm_is_accepted_by_eth_account(
    hsm_signer: Pkcs11Signer,
) -> None:
    sender = ethereum_address(hsm_signer.public_key())
    dynamic_fee = {
        "type": 2,
        "chainId": 1337,
        "nonce": 7,
        "maxPriorityFeePerGas": 1_000_000_000,
        "maxFeePerGas": 30_000_000_000,
        "gas": 21_000,
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": 12_345,
        "data": b"",
    }
    legacy = {
        "chainId": 1,
        "nonce": 0,
        "gasPrice": 20_000_000_000,
        "gas": 21_000,
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": 1,
    }
    for tx in (dynamic_fee, legacy):
        signed = sign_ethereum_transaction(hsm_signer, tx)
        assert signed.sender == sender
        assert Account.recover_transaction(signed.raw) == sender


def test_the_private_key_cannot_be_extracted(softhsm: SoftHsm, hsm_signer: Pkcs11Signer) -> None:
    token_label = hsm_signer.key_id.removeprefix("pkcs11:").split("/")[0]
    session = open_session(softhsm.module, token_label, USER_PIN, rw=True)
    try:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="hot")
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]
        wrapping = session.generate_key(
            KeyType.AES, 256, template={Attribute.WRAP: True, Attribute.TOKEN: False}
        )
        with pytest.raises((p11.KeyUnextractable, p11.MechanismInvalid, p11.KeyNotWrappable)):
            wrapping.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP_PAD)
        with pytest.raises(p11.AttributeReadOnly):  # the flags can only ever tighten
            key[Attribute.EXTRACTABLE] = True
    finally:
        session.close()


def test_an_imported_or_extractable_key_is_refused_for_the_hot_wallet(softhsm: SoftHsm, token: str) -> None:
    session = open_session(softhsm.module, token, USER_PIN, rw=True)
    try:
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: SECP256K1_PARAMS}, local=True
        )
        params.generate_keypair(
            store=True,
            label="weak",
            private_template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True},
        )
    finally:
        session.close()
    with pytest.raises(InsecureKeyError, match="SENSITIVE"):
        Pkcs11Signer(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="weak")


def test_device_errors_are_clear(softhsm: SoftHsm, hsm_signer: Pkcs11Signer, token: str) -> None:
    fresh = softhsm.init_token()  # nobody is logged in there, so the PIN is really checked
    with pytest.raises(SignerUnavailableError, match="PIN"):
        Pkcs11Signer(module=softhsm.module, token_label=fresh, pin="wrong-pin", key_label="hot")
    with pytest.raises(KeyNotFoundError):
        Pkcs11Signer(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="absent")
    with pytest.raises(SignerUnavailableError, match="no PKCS#11 token"):
        Pkcs11Signer(module=softhsm.module, token_label="no-such-token", pin=USER_PIN, key_label="hot")
    with pytest.raises(SignerUnavailableError, match="cannot load"):
        Pkcs11Signer(module="/nonexistent/libpkcs11.so", token_label=token, pin=USER_PIN, key_label="hot")
    with pytest.raises(SignerError, match="already holds"):
        generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="hot")


def test_the_signer_reconnects_after_the_library_is_reinitialised(
    softhsm: SoftHsm, hsm_signer: Pkcs11Signer
) -> None:
    digest = _digests(1)[0]
    pkcs11.lib(softhsm.module).reinitialize()  # every session handle is now invalid
    signature = hsm_signer.sign_digest(digest)
    assert signature.recover(digest) == hsm_signer.public_key()


def test_metrics_count_signatures_latency_and_errors(hsm_signer: Pkcs11Signer) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_ok = sample("wallet_signer_signatures_total", backend="pkcs11")
    before_timed = sample("wallet_signer_sign_duration_seconds_count", backend="pkcs11")
    before_err = sample("wallet_signer_errors_total", backend="pkcs11", error="SignerError")
    hsm_signer.sign_digest(_digests(1)[0])
    with pytest.raises(SignerError):
        hsm_signer.sign_digest(b"not a digest")
    assert sample("wallet_signer_signatures_total", backend="pkcs11") == before_ok + 1
    assert sample("wallet_signer_sign_duration_seconds_count", backend="pkcs11") == before_timed + 2
    assert sample("wallet_signer_errors_total", backend="pkcs11", error="SignerError") == before_err + 1


def test_build_signer_reads_the_pin_from_a_secret_file(
    softhsm: SoftHsm, hsm_signer: Pkcs11Signer, token: str, tmp_path: Path
) -> None:
    pin_file = tmp_path / "hsm-pin"
    pin_file.write_text(USER_PIN + "\n", encoding="utf-8")
    settings = SignerSettings(
        pkcs11_module=softhsm.module, hsm_token_label=token, hsm_key_label="hot", hsm_pin_file=pin_file
    )
    signer = build_signer(settings)
    assert signer.public_key() == hsm_signer.public_key()
    assert signer.key_id == f"pkcs11:{token}/hot"
    with pytest.raises(SignerError, match="HSM_PIN"):
        build_signer(SignerSettings(pkcs11_module=softhsm.module, hsm_token_label=token))
