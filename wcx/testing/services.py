"""Loud handling of a missing test service: skip with a reason, or fail under WCX_REQUIRE_SERVICES=1."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_service(reason: str) -> NoReturn:
    """Skip the test loudly, or fail it when CI demands every service (WCX_REQUIRE_SERVICES=1)."""
    if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
        pytest.fail(f"WCX_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(f"!!! SKIPPING: {reason}")
