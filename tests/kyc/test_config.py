"""KYC settings and tier configuration: real secrets outside development, a coherent tier file."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from wcx.kyc import KycConfigError, load_kyc_settings
from wcx.kyc.settings import DEV_ENCRYPTION_KEY
from wcx.kyc.tiers import DEFAULT_KYC_FILE, load_kyc_config, parse_kyc_config, read_kyc_file

SCALES = {"BTC": 8, "USDT": 6}
REAL_KEY = base64.b64encode(os.urandom(32)).decode()


def test_the_development_key_is_refused_outside_development() -> None:
    assert load_kyc_settings(wcx_env="development").encryption_key() == base64.b64decode(DEV_ENCRYPTION_KEY)
    for env in ("staging", "production"):
        with pytest.raises(KycConfigError, match="KYC_ENCRYPTION_KEY"):
            load_kyc_settings(wcx_env=env)
        assert len(load_kyc_settings(wcx_env=env, kyc_encryption_key=REAL_KEY).encryption_key()) == 32


@pytest.mark.parametrize("key", ["c2hvcnQ=", "not base64 at all!", base64.b64encode(b"x" * 31).decode()])
def test_a_key_that_is_not_32_bytes_of_base64_is_refused(key: str) -> None:
    with pytest.raises(KycConfigError):
        load_kyc_settings(wcx_env="production", kyc_encryption_key=key)


def test_the_webhook_provider_needs_a_real_secret_outside_development() -> None:
    with pytest.raises(KycConfigError, match="KYC_WEBHOOK_SECRET"):
        load_kyc_settings(wcx_env="production", kyc_encryption_key=REAL_KEY, kyc_provider="webhook")


def test_the_shipped_tiers_load_in_reference_minor_units() -> None:
    config = load_kyc_config(DEFAULT_KYC_FILE, SCALES)
    assert [t.trading for t in config.tiers] == [False, True, True, True]
    assert config.tier(1).withdrawal_daily == 2000 * 10**6
    assert config.tier(3).withdrawal_monthly is None
    assert config.tier(2).documents == {"id_document", "selfie"}
    with pytest.raises(KycConfigError, match="not an asset"):
        load_kyc_config(DEFAULT_KYC_FILE, {"BTC": 8})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["tiers"].pop(), "exactly one entry"),
        (lambda d: d["tiers"][3].update(documents=["selfie"]), "must require everything"),
        (lambda d: d["tiers"][1].update(withdrawal_daily="10.0000001"), "withdrawal_daily"),
        (lambda d: d["tiers"][1].update(documents=["passport_photo"]), "unknown documents"),
        (lambda d: d.update(default_tier=4), "default_tier"),
    ],
)
def test_an_incoherent_tier_file_is_refused(change: object, message: str, tmp_path: Path) -> None:
    doc = read_kyc_file(DEFAULT_KYC_FILE)
    change(doc)  # type: ignore[operator]
    with pytest.raises(KycConfigError, match=message):
        parse_kyc_config(doc, 6)


def test_retired_keys_decrypt_only_and_must_be_keys() -> None:
    old = base64.b64encode(os.urandom(32)).decode()
    settings = load_kyc_settings(
        wcx_env="production", kyc_encryption_key=REAL_KEY, kyc_encryption_old_keys=old
    )
    assert settings.encryption_keys() == [base64.b64decode(REAL_KEY), base64.b64decode(old)]
    with pytest.raises(KycConfigError):
        load_kyc_settings(wcx_env="production", kyc_encryption_key=REAL_KEY, kyc_encryption_old_keys="short")
