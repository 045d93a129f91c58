"""Cold-storage ceremony: keygen, recovery, fingerprint checks, file hygiene."""

from __future__ import annotations

import itertools
import json
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bip_utils import Bip32Secp256k1

from wcx.custody.ceremony import RECORD_NAME, ColdWalletRecord, KeygenResult, keygen, recover
from wcx.custody.errors import CustodyError, FingerprintMismatchError, ShareError
from wcx.custody.keys import Network, derive_keys
from wcx.custody.shares import read_share_file
from wcx.wallet.signers.derived import ethereum_private_key

from .conftest import PASSPHRASE, Ceremony


def _keygen(
    output_dir: Path,
    threshold: int,
    total: int,
    *,
    network: Network = Network.TESTNET,
    locations: list[str] | None = None,
) -> KeygenResult:
    return keygen(
        threshold=threshold,
        total_shares=total,
        output_dir=output_dir,
        passphrase=b"",
        network=network,
        now=datetime(2026, 11, 24, tzinfo=UTC),
        locations=locations,
    )


def _recovery_dir(run: Ceremony, tmp_path: Path, locations: tuple[str, ...]) -> Path:
    target = tmp_path / "recovery"
    target.mkdir(parents=True, exist_ok=True)
    for location in locations:
        shutil.copy(run.output_dir / f"share-{location}.slip39", target)
    return target


def _recover(run: Ceremony, shares_dir: Path, passphrase: bytes = PASSPHRASE) -> object:
    keys = run.result.record.keys
    return recover(
        shares_dir=shares_dir,
        threshold=3,
        passphrase=passphrase,
        expected_fingerprint=keys.fingerprint,
        network=Network.TESTNET,
        expected_keys=keys,
    )


def test_every_three_of_five_combination_recovers_the_recorded_wallet(
    ceremony_run: Ceremony, tmp_path: Path
) -> None:
    locations = ceremony_run.result.record.locations
    expected = derive_keys(ceremony_run.secret, Network.TESTNET)
    assert ceremony_run.result.record.keys == expected
    for number, combination in enumerate(itertools.combinations(locations, 3)):
        recovered = recover(
            shares_dir=_recovery_dir(ceremony_run, tmp_path / str(number), combination),
            threshold=3,
            passphrase=PASSPHRASE,
            expected_fingerprint=expected.fingerprint,
            network=Network.TESTNET,
        )
        assert recovered.seed == ceremony_run.secret
        assert recovered.keys == expected
        assert {s.location for s in recovered.used} == set(combination)


def test_two_shares_fail_clearly(ceremony_run: Ceremony, tmp_path: Path) -> None:
    with pytest.raises(ShareError, match=r"2 valid distinct share\(s\) .* 3 needed"):
        _recover(ceremony_run, _recovery_dir(ceremony_run, tmp_path, ("zurich", "london")))


def test_a_duplicated_share_does_not_count_twice(ceremony_run: Ceremony, tmp_path: Path) -> None:
    shares = _recovery_dir(ceremony_run, tmp_path, ("zurich", "london"))
    shutil.copy(shares / "share-london.slip39", shares / "share-london-copy.slip39")
    with pytest.raises(ShareError, match="3 needed"):
        _recover(ceremony_run, shares)


def test_a_corrupted_word_is_detected_and_named(ceremony_run: Ceremony, tmp_path: Path) -> None:
    shares = _recovery_dir(ceremony_run, tmp_path, ("zurich", "london", "singapore"))
    target = shares / "share-london.slip39"
    lines = target.read_text(encoding="utf-8").splitlines()
    words = lines[-1].split()
    words[7] = "academic" if words[7] != "academic" else "acid"
    target.write_text("\n".join([*lines[:-1], " ".join(words)]) + "\n", encoding="utf-8")
    with pytest.raises(ShareError, match=r"share-london\.slip39: not a valid SLIP-39 share"):
        _recover(ceremony_run, shares)
    # With a fourth good share the ceremony goes on, and reports the bad one.
    shutil.copy(ceremony_run.output_dir / "share-newyork.slip39", shares)
    recovered = _recover(ceremony_run, shares)
    assert recovered.rejected and "share-london" in recovered.rejected[0]  # type: ignore[attr-defined]


def test_a_wrong_passphrase_is_caught_by_the_fingerprint(ceremony_run: Ceremony, tmp_path: Path) -> None:
    shares = _recovery_dir(ceremony_run, tmp_path, ("frankfurt", "london", "newyork"))
    with pytest.raises(FingerprintMismatchError, match="wrong passphrase"):
        _recover(ceremony_run, shares, passphrase=b"correct horse battery stapler")
    with pytest.raises(FingerprintMismatchError):
        _recover(ceremony_run, shares, passphrase=b"")


def test_shares_of_another_wallet_or_threshold_are_refused(ceremony_run: Ceremony, tmp_path: Path) -> None:
    other = _keygen(tmp_path / "other", 2, 3)
    mixed = _recovery_dir(ceremony_run, tmp_path, ("zurich", "london"))
    shutil.copy(other.share_files[0], mixed)
    with pytest.raises(ShareError, match="does not match the shares' threshold"):
        _recover(ceremony_run, mixed)
    only_other = tmp_path / "only-other"
    only_other.mkdir()
    for path in other.share_files[:2]:
        shutil.copy(path, only_other)
    with pytest.raises(FingerprintMismatchError):
        recover(
            shares_dir=only_other,
            threshold=2,
            passphrase=b"",
            expected_fingerprint=ceremony_run.result.record.keys.fingerprint,
            network=Network.TESTNET,
        )


def test_file_permissions(ceremony_run: Ceremony) -> None:
    assert stat.S_IMODE(ceremony_run.output_dir.stat().st_mode) == 0o700
    assert len(ceremony_run.result.share_files) == 5
    for path in ceremony_run.result.share_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(ceremony_run.result.record_path.stat().st_mode) == 0o644  # public on purpose


def test_no_secret_in_any_output_file(ceremony_run: Ceremony) -> None:
    secret = ceremony_run.secret
    master = Bip32Secp256k1.FromSeed(secret)
    forbidden = {
        "master secret": secret.hex(),
        "master xprv": str(master.PrivateKey().ToExtended()),
        "master private key": master.PrivateKey().Raw().ToHex(),
        "cold eth key": ethereum_private_key(secret).hex(),
    }
    files = sorted(ceremony_run.output_dir.iterdir())
    assert {p.name for p in files} == {RECORD_NAME} | {p.name for p in ceremony_run.result.share_files}
    mnemonics = set()
    for path in files:
        text = path.read_text(encoding="utf-8").lower()
        for name, value in forbidden.items():
            assert value.lower() not in text, f"{name} leaked into {path.name}"
        if path.suffix == ".slip39":
            mnemonics.add(read_share_file(path).mnemonic)
            assert len([line for line in text.splitlines() if not line.startswith("#")]) == 1
    assert len(mnemonics) == 5
    record = json.loads(ceremony_run.result.record_path.read_text(encoding="utf-8"))
    assert not any(word in json.dumps(record) for m in mnemonics for word in [m])
    assert ColdWalletRecord.load(ceremony_run.result.record_path) == ceremony_run.result.record


def test_keygen_never_overwrites_a_ceremony(ceremony_run: Ceremony) -> None:
    with pytest.raises(CustodyError, match="already holds ceremony files"):
        _keygen(ceremony_run.output_dir, 3, 5)


@pytest.mark.parametrize(
    ("threshold", "total", "locations", "message"),
    [
        (1, 3, None, "threshold of 1"),
        (4, 3, None, "threshold <= total"),
        (2, 17, None, "total-shares <= 16"),
        (2, 3, ["a", "b"], "3 distinct locations"),
        (2, 2, ["a", "a"], "2 distinct locations"),
        (2, 2, ["a", "../b"], "must be 1-64 letters"),
    ],
)
def test_keygen_refuses_bad_policies(
    tmp_path: Path, threshold: int, total: int, locations: list[str] | None, message: str
) -> None:
    with pytest.raises(CustodyError, match=message):
        _keygen(tmp_path / "out", threshold, total, network=Network.MAINNET, locations=locations)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_mainnet_keys_use_zpub_and_bc1(tmp_path: Path) -> None:
    result = _keygen(tmp_path / "out", 2, 2, network=Network.MAINNET)
    keys = result.record.keys
    assert keys.btc_xpub.startswith("zpub") and keys.btc_address.startswith("bc1q")
    assert keys.btc_path == "m/84'/0'/0'"
    assert keys.eth_xpub.startswith("xpub") and keys.eth_address.startswith("0x")
    assert len(keys.fingerprint) == 8
