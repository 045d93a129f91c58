"""Custody fixtures: one generated cold wallet per module, SoftHSM2 tokens per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store.conftest import Database, database, postgres_database, run

from wcx.custody import ceremony
from wcx.custody.ceremony import KeygenResult, Recovery, keygen, recover
from wcx.custody.keys import Network
from wcx.testing.softhsm import softhsm

__all__ = ["Database", "database", "postgres_database", "run", "softhsm"]

PASSPHRASE = b"correct horse battery staple"


@dataclass(frozen=True)
class Ceremony:
    """A finished keygen, plus the secret it generated (captured for the 'never written' checks)."""

    result: KeygenResult
    secret: bytes
    output_dir: Path


@pytest.fixture(scope="module")
def ceremony_run(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    """3-of-5 keygen with a passphrase on testnet, capturing the master secret it drew."""
    drawn: list[bytes] = []
    real = ceremony.new_master_secret

    def capture() -> bytes:
        drawn.append(real())
        return drawn[-1]

    output_dir = tmp_path_factory.mktemp("ceremony") / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ceremony, "new_master_secret", capture)
        result = keygen(
            threshold=3,
            total_shares=5,
            output_dir=output_dir,
            passphrase=PASSPHRASE,
            network=Network.TESTNET,
            now=datetime(2026, 11, 24, tzinfo=UTC),
            locations=["zurich", "frankfurt", "london", "singapore", "newyork"],
        )
    return Ceremony(result=result, secret=drawn[0], output_dir=output_dir)


@pytest.fixture
def recovered(ceremony_run: Ceremony, tmp_path: Path) -> Recovery:
    """The ceremony's wallet recovered from three of its five shares (zurich, london, newyork)."""
    shares = tmp_path / "recovery"
    shares.mkdir()
    for location in ("zurich", "london", "newyork"):
        shutil.copy(ceremony_run.output_dir / f"share-{location}.slip39", shares)
    return recover(
        shares_dir=shares,
        threshold=3,
        passphrase=PASSPHRASE,
        expected_fingerprint=ceremony_run.result.record.keys.fingerprint,
        network=Network.TESTNET,
    )
