"""Black-box: the story's 2FA step against the real `wcx serve` process, driven over HTTP with pyotp as the
authenticator app (SQLite; and PostgreSQL + Redis, where spent codes are remembered in Redis)."""

from __future__ import annotations

import time

import httpx
import pyotp
import pytest

from .test_blackbox import PASSWORD, Server, sign_up
from .test_blackbox import server as server  # noqa: PLC0414 - the fixture, shared with the main story
from .test_blackbox import services as services  # noqa: PLC0414

EMAIL = "tess@example.com"


class Authenticator:
    """The user's authenticator app; hands out a code the server has not seen yet (each works once)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.used: set[str] = set()

    def code(self) -> str:
        """The current code, or the next step's (the server accepts one step of drift) once it is spent."""
        now = time.time()
        code = next(c for c in (self.totp.at(now), self.totp.at(now + 30)) if c not in self.used)
        self.used.add(code)
        return code


def login(http: httpx.Client, **factor: str) -> httpx.Response:
    """POST /auth/login with the password and an optional second factor."""
    return http.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD, **factor})


def refused(response: httpx.Response, status: int, code: str) -> bool:
    """Whether the server refused with `status` and error `code`."""
    return response.status_code == status and response.json()["error"]["code"] == code


@pytest.mark.parametrize("services", ["sqlite", "postgresql+redis"], indirect=True)
def test_totp_enable_login_recovery_and_disable(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        tess = sign_up(http, EMAIL)
        setup = tess.ok("POST", "/api/v1/auth/2fa/enable")
        assert setup["secret"] in setup["otpauth_uri"] and "issuer=wcx" in setup["otpauth_uri"]
        app = Authenticator(setup["secret"])
        recovery = tess.ok("POST", "/api/v1/auth/2fa/verify", {"totp_code": app.code()})["recovery_codes"]
        assert len(set(recovery)) == 10

        assert tess.call("POST", "/api/v1/auth/logout").status_code == 204
        assert refused(tess.call("GET", "/api/v1/account"), 401, "SESSION_REVOKED")
        assert refused(login(http), 401, "SECOND_FACTOR_REQUIRED")
        code = app.code()
        assert login(http, totp_code=code).status_code == 200
        assert refused(login(http, totp_code=code), 401, "INVALID_SECOND_FACTOR")

        # A recovery code works once; typed back with other case and spacing it is the same code.
        recovered = login(http, recovery_code=recovery[0].upper().replace("-", " "))
        assert recovered.status_code == 200, recovered.text
        assert refused(login(http, recovery_code=recovery[0]), 401, "INVALID_SECOND_FACTOR")

        tess.token = recovered.json()["access_token"]
        assert tess.ok("POST", "/api/v1/auth/2fa/disable", {"recovery_code": recovery[1]}) == {
            "totp_enabled": False
        }
        assert login(http).status_code == 200
