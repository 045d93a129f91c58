"""The development keystore signer and the FakeSigner from wcx.testing."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from eth_account import Account

from wcx.config.settings import Environment
from wcx.testing.signers import FakeSigner
from wcx.wallet.signers import (
    KeystoreSigner,
    Signer,
    SignerBackend,
    SignerError,
    SignerSettings,
    SignerUnavailableError,
    build_signer,
    ethereum_address,
    sign_ethereum_transaction,
)

DIGEST = hashlib.sha256(b"keystore").digest()
FAST = 2**10  # scrypt cost for tests; real keystores keep the 2**18 default


def test_keystore_signer_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "hot.json"
    created = KeystoreSigner.create(
        path=path, password="correct horse", environment=Environment.DEVELOPMENT, scrypt_n=FAST
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"correct horse" not in path.read_bytes()
    reopened = KeystoreSigner(path=path, password="correct horse", environment=Environment.DEVELOPMENT)
    assert isinstance(reopened, Signer)
    assert reopened.public_key() == created.public_key()
    signature = reopened.sign_digest(DIGEST)
    assert signature.recover(DIGEST) == created.public_key()
    with pytest.raises(FileExistsError):
        KeystoreSigner.create(
            path=path, password="correct horse", environment=Environment.DEVELOPMENT, scrypt_n=FAST
        )


@pytest.mark.parametrize("environment", [Environment.STAGING, Environment.PRODUCTION])
def test_keystore_signer_is_refused_outside_development(tmp_path: Path, environment: Environment) -> None:
    path = tmp_path / "hot.json"
    KeystoreSigner.create(
        path=path, password="correct horse", environment=Environment.DEVELOPMENT, scrypt_n=FAST
    )
    with pytest.raises(SignerError, match="development"):
        KeystoreSigner(path=path, password="correct horse", environment=environment)
    with pytest.raises(SignerError, match="development"):
        build_signer(
            SignerSettings(
                wcx_env=environment,
                wallet_signer=SignerBackend.KEYSTORE,
                keystore_path=path,
                keystore_password="correct horse",
            )
        )


def test_keystore_wrong_password_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "hot.json"
    KeystoreSigner.create(
        path=path, password="correct horse", environment=Environment.DEVELOPMENT, scrypt_n=FAST
    )
    with pytest.raises(SignerUnavailableError, match="decrypt"):
        KeystoreSigner(path=path, password="battery staple", environment=Environment.DEVELOPMENT)


def test_fake_signer_signs_like_a_real_key_and_injects_failures() -> None:
    fake = FakeSigner()
    assert isinstance(fake, Signer)
    tx = {"chainId": 1337, "nonce": 1, "gasPrice": 1, "gas": 21_000, "to": "0x" + "11" * 20, "value": 5}
    signed = sign_ethereum_transaction(fake, tx)
    assert Account.recover_transaction(signed.raw) == ethereum_address(fake.public_key())
    assert ethereum_address(fake.public_key()) == Account.from_key(fake.private_key).address
    fake.fail_next()
    with pytest.raises(SignerError, match="injected"):
        fake.sign_digest(DIGEST)
    assert fake.sign_digest(DIGEST).recover(DIGEST) == fake.public_key()
    assert len(fake.signed) == 3


def test_an_invalid_transaction_is_refused_before_signing() -> None:
    fake = FakeSigner()
    with pytest.raises(SignerError, match="not a valid Ethereum transaction"):
        sign_ethereum_transaction(fake, {"chainId": 1, "nonce": -1, "value": "lots"})
    assert fake.signed == []
