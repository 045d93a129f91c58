"""The listener-wide IP allowlist (ADMIN_IP_ALLOWLIST): nothing answers callers from elsewhere."""

from __future__ import annotations

import httpx
import pytest

from wcx.admin import create_admin_app
from wcx.admin.settings import AdminSettings
from wcx.runtime import Runtime

from .conftest import API, BASE, error_code

pytestmark = pytest.mark.anyio


@pytest.fixture
def admin_settings() -> AdminSettings:
    """Only 10.0.0.0/8 may reach this listener (the tests call from 127.0.0.1)."""
    return AdminSettings(ip_allowlist="10.0.0.0/8")  # type: ignore[arg-type]


async def test_the_listener_allowlist_refuses_everything_from_elsewhere(runtime: Runtime) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_admin_app(runtime)), base_url=BASE
    ) as http:
        for path in ("/healthz", "/login", f"{API}/me"):
            response = await http.get(path)
            assert (response.status_code, error_code(response)) == (403, "IP_NOT_ALLOWED"), path
    settings = AdminSettings(ip_allowlist="10.0.0.0/8, 2001:db8::/32")  # type: ignore[arg-type]
    assert [str(n) for n in settings.networks()] == ["10.0.0.0/8", "2001:db8::/32"]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 network"):
        AdminSettings(ip_allowlist="10.0.0.0/8,bogus")  # type: ignore[arg-type]
