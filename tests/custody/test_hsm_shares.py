"""Deploying ceremony shares into SoftHSM2 tokens and exporting them for recovery."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11

from wcx.custody.ceremony import recover
from wcx.custody.errors import CustodyError, ShareError
from wcx.custody.hsm_shares import deploy_share, export_share, share_label
from wcx.custody.keys import Network
from wcx.custody.shares import read_share_file
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.signers import SignerUnavailableError
from wcx.wallet.signers.token import open_session

from .conftest import PASSPHRASE, Ceremony


def _copy_share(run: Ceremony, location: str, tmp_path: Path) -> Path:
    target = tmp_path / "incoming" / f"share-{location}.slip39"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(run.output_dir / f"share-{location}.slip39", target)
    return target


def test_deploy_stores_a_sensitive_share_and_shreds_the_file(
    softhsm: SoftHsm, ceremony_run: Ceremony, tmp_path: Path
) -> None:
    token = softhsm.init_token()
    share_file = _copy_share(ceremony_run, "zurich", tmp_path)
    mnemonic = read_share_file(share_file).mnemonic
    deployed = deploy_share(
        module=softhsm.module, token_label=token, pin=USER_PIN, location="zurich", share_file=share_file
    )
    assert not share_file.exists()
    assert deployed.object_label == "wcx-share:zurich" and deployed.member_index >= 1
    session = open_session(softhsm.module, token, USER_PIN)
    try:
        stored = session.get_key(object_class=ObjectClass.SECRET_KEY, label=share_label("zurich"))
        assert stored[Attribute.SENSITIVE] is True
        assert stored[Attribute.PRIVATE] is True
        assert stored[Attribute.TOKEN] is True
        assert stored[Attribute.MODIFIABLE] is False
        assert stored[Attribute.SIGN] is False and stored[Attribute.ENCRYPT] is False
        with pytest.raises(p11.AttributeSensitive):
            stored[Attribute.VALUE]
    finally:
        session.close()
    assert export_share(module=softhsm.module, token_label=token, pin=USER_PIN, location="zurich") == mnemonic


def test_shares_exported_from_three_tokens_recover_the_wallet(
    softhsm: SoftHsm, ceremony_run: Ceremony, tmp_path: Path
) -> None:
    recovery_dir = tmp_path / "recovery"
    recovery_dir.mkdir()
    for location in ("frankfurt", "singapore", "newyork"):
        token = softhsm.init_token()
        deploy_share(
            module=softhsm.module,
            token_label=token,
            pin=USER_PIN,
            location=location,
            share_file=_copy_share(ceremony_run, location, tmp_path),
        )
        mnemonic = export_share(module=softhsm.module, token_label=token, pin=USER_PIN, location=location)
        (recovery_dir / f"share-{location}.slip39").write_text(mnemonic + "\n", encoding="utf-8")
    recovered = recover(
        shares_dir=recovery_dir,
        threshold=3,
        passphrase=PASSPHRASE,
        expected_fingerprint=ceremony_run.result.record.keys.fingerprint,
        network=Network.TESTNET,
    )
    assert recovered.seed == ceremony_run.secret


def test_deploy_refusals_leave_the_file_in_place(
    softhsm: SoftHsm, ceremony_run: Ceremony, tmp_path: Path
) -> None:
    token = softhsm.init_token()
    share_file = _copy_share(ceremony_run, "london", tmp_path)
    with pytest.raises(ShareError, match="belongs to location 'london'"):
        deploy_share(
            module=softhsm.module, token_label=token, pin=USER_PIN, location="zurich", share_file=share_file
        )
    with pytest.raises(SignerUnavailableError, match="PIN"):
        deploy_share(
            module=softhsm.module, token_label=token, pin="bad-pin", location="london", share_file=share_file
        )
    assert share_file.exists()
    deploy_share(
        module=softhsm.module, token_label=token, pin=USER_PIN, location="london", share_file=share_file
    )
    again = _copy_share(ceremony_run, "london", tmp_path)
    with pytest.raises(CustodyError, match="already holds a share"):
        deploy_share(
            module=softhsm.module, token_label=token, pin=USER_PIN, location="london", share_file=again
        )
    assert again.exists()
    corrupted = tmp_path / "share-london.slip39"
    corrupted.write_text("# location: london\nacademic acid acne\n", encoding="utf-8")
    with pytest.raises(ShareError, match="not a valid SLIP-39 share"):
        deploy_share(
            module=softhsm.module, token_label=token, pin=USER_PIN, location="london", share_file=corrupted
        )
    with pytest.raises(CustodyError, match="no share for location 'zurich'"):
        export_share(module=softhsm.module, token_label=token, pin=USER_PIN, location="zurich")
