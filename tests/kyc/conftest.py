"""KYC test fixtures: the store's per-test databases (SQLite file and PostgreSQL) and a KYC service."""

from __future__ import annotations

from pathlib import Path

import pytest
from store.conftest import Database, _empty, database, postgres_database, run  # noqa: F401  (fixtures shared)

from wcx.kyc import KycService
from wcx.testing.kyc import make_kyc_service


@pytest.fixture
def kyc(tmp_path: Path) -> KycService:
    """A KYC service over a temporary vault; users start at tier 0."""
    return make_kyc_service(tmp_path / "vault")
