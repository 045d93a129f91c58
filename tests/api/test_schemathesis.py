"""Schemathesis against the live `/openapi.json`: no 5xx on any generated input, and every answer is one
the document declares, with a body that matches its schema.

The app runs under uvicorn in a background thread over a Runtime in tmp (journal + SQLite), so the
fuzzer talks real HTTP to real code; rate limits are lifted so it reaches the handlers instead of 429s.
Generation is derandomized and bounded per operation so a run is repeatable and quick.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from argon2 import PasswordHasher
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from wcx.api.app import create_app
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.state import AuthState, attach
from wcx.api.ratelimit import Limit
from wcx.cli.serve import listen
from wcx.config.settings import load_settings
from wcx.runtime import Runtime

from .conftest import PASSWORD

MAX_EXAMPLES = 8
SEED = 20_240_601
UNLIMITED = Limit(rate=1e9, burst=10**9)
# Logging out ends the session it is called with; it gets a session of its own so the others survive.
OWN_SESSION = {"POST /api/v1/auth/logout"}


@dataclass
class LiveApi:
    """The app served on a loopback port; a funded user's session, and a spare one to log out."""

    url: str
    token: str
    spare_token: str

    def headers(self, label: str) -> dict[str, str]:
        """The bearer header for operation `label` ("METHOD /path")."""
        return {"Authorization": f"Bearer {self.spare_token if label in OWN_SESSION else self.token}"}


def _runtime(data_dir: Path) -> Runtime:
    settings = load_settings(
        projector="inline",  # the in-process tests need no second process; black-box tests run it
        data_dir=data_dir,
        wcx_env="development",
        redis_url="",
        database_url="",
        jwt_secret="fuzz-jwt-secret-" + "x" * 32,
        refresh_secret="fuzz-refresh-secret-" + "y" * 32,
    )
    runtime = Runtime(settings)
    # Production argon2 costs ~100 ms a hash; the fuzzer registers and logs in with every password it makes.
    attach(runtime, AuthState(settings, passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=64))))
    return runtime


def _sign_in(http: httpx.Client, email: str) -> str:
    """Register, fund and log in `email`; its access token."""
    assert http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}).status_code == 202
    for asset, amount in (("USDT", "100000"), ("BTC", "2")):
        credit = http.post("/dev/credit", json={"email": email, "asset": asset, "amount": amount})
        assert credit.status_code == 200, credit.text
    login = http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The API app under uvicorn in a thread with its own event loop (the runtime lives on that loop)."""
    runtime = _runtime(tmp_path_factory.mktemp("fuzz") / "data")
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, limits=dict.fromkeys(("ip", "key", "user"), UNLIMITED)),
            log_config=None,
            log_level="warning",
        )
    )

    async def serve() -> None:
        await runtime.start()
        try:
            await server.serve(sockets=[sock])
        finally:
            await runtime.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="fuzz-api")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield LiveApi(url, _sign_in(http, "fuzz@example.com"), _sign_in(http, "spare@example.com"))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _schema() -> schemathesis.BaseSchema:
    """The app's OpenAPI document (the one `/openapi.json` serves) with a bounded, repeatable config."""
    document = create_app(_runtime(Path("unused"))).openapi()
    config = schemathesis.Config(seed=SEED)
    config.projects.default.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    return schemathesis.openapi.from_dict(document, config=config)


# Parametrizing needs the operations at collection time, before the live app exists.
schema = _schema()


def test_the_fuzzed_document_is_the_one_served(live_api: LiveApi) -> None:
    served = httpx.get(f"{live_api.url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == schema.raw_schema


@schema.parametrize()
def test_no_server_error_on_any_generated_input(case: schemathesis.Case[Any], live_api: LiveApi) -> None:
    case.call_and_validate(
        base_url=live_api.url, headers=live_api.headers(case.operation.label), checks=[not_a_server_error]
    )


@schema.parametrize()
def test_every_answer_is_declared_and_matches_its_schema(
    case: schemathesis.Case[Any], live_api: LiveApi
) -> None:
    case.call_and_validate(
        base_url=live_api.url,
        headers=live_api.headers(case.operation.label),
        checks=[status_code_conformance, response_schema_conformance],
    )
