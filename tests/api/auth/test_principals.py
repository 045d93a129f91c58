"""The WebSocket login message (`authenticate_ws`) and the shared auth state."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from wcx.api.auth import AuthState, auth_state, authenticate_ws, shutdown
from wcx.api.auth.signing import hmac_signature, ws_login_message
from wcx.api.auth.store import MemoryStore
from wcx.api.errors import ApiError
from wcx.api.principal import Permission

from .conftest import Api, make_settings

pytestmark = pytest.mark.anyio


def ws_login(key: dict[str, str], timestamp: str) -> dict[str, object]:
    """A signed WebSocket login message."""
    signature = hmac_signature(key["secret"], ws_login_message(timestamp))
    return {"op": "login", "key": key["key"], "timestamp": int(timestamp), "signature": signature}


async def test_ws_login_with_an_access_token(api: Api, auth_runtime: SimpleNamespace) -> None:
    session = await api.signup("ws1@example.com")
    principal = await authenticate_ws(auth_runtime, {"op": "login", "token": session.access})
    assert principal.session_id == session.session_id and principal.can(Permission.WITHDRAW)
    await api.post("/auth/logout", None, session)
    with pytest.raises(ApiError) as refused:
        await authenticate_ws(auth_runtime, {"op": "login", "token": session.access})
    assert (refused.value.status, refused.value.code) == (401, "SESSION_REVOKED")


async def test_ws_login_with_a_signed_key(api: Api, auth_runtime: SimpleNamespace) -> None:
    session = await api.signup("ws2@example.com")
    key = await api.create_key(session, permissions=["read"])
    login = ws_login(key, api.clock.ms())
    principal = await authenticate_ws(auth_runtime, login)
    assert principal.api_key_id == key["id"] and principal.permissions == {Permission.READ}
    with pytest.raises(ApiError) as replayed:
        await authenticate_ws(auth_runtime, login)
    assert replayed.value.code == "REPLAYED_REQUEST"
    api.clock.advance(6)
    with pytest.raises(ApiError) as stale:
        await authenticate_ws(auth_runtime, ws_login(key, str(int(api.clock.ms()) - 6000)))
    assert stale.value.code == "TIMESTAMP_OUTSIDE_WINDOW"
    with pytest.raises(ApiError) as forged:
        await authenticate_ws(auth_runtime, {**ws_login(key, api.clock.ms()), "signature": "00" * 32})
    assert forged.value.code == "INVALID_SIGNATURE"


async def test_ws_login_checks_the_allowlist_against_the_peer(
    api: Api, auth_runtime: SimpleNamespace
) -> None:
    session = await api.signup("ws3@example.com")
    key = await api.create_key(session, permissions=["read"], ip_allowlist=["192.0.2.0/24"])
    for ip in (None, "203.0.113.1"):
        api.clock.advance(0.001)
        with pytest.raises(ApiError) as refused:
            await authenticate_ws(auth_runtime, ws_login(key, api.clock.ms()), client_ip=ip)
        assert refused.value.code == "IP_NOT_ALLOWED"
    principal = await authenticate_ws(auth_runtime, ws_login(key, api.clock.ms()), client_ip="192.0.2.8")
    assert principal.api_key_id == key["id"]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"op": "subscribe"}, "INVALID_REQUEST"),
        ({"op": "login"}, "UNAUTHENTICATED"),
        ({"op": "login", "key": "k", "timestamp": 1.5, "signature": "s"}, "UNAUTHENTICATED"),
        ({"op": "login", "key": "k", "timestamp": True, "signature": "s"}, "UNAUTHENTICATED"),
        (
            {"op": "login", "key": "k", "timestamp": "1", "signature": "s", "recv_window": "9"},
            "UNAUTHENTICATED",
        ),
        ({"op": "login", "key": "k", "timestamp": "1", "signature": "s"}, "TIMESTAMP_OUTSIDE_WINDOW"),
        ({"op": "login", "token": "not.a.jwt"}, "UNAUTHENTICATED"),
    ],
)
async def test_ws_login_refuses_malformed_messages(
    auth_runtime: SimpleNamespace, message: dict[str, object], error: str
) -> None:
    with pytest.raises(ApiError) as refused:
        await authenticate_ws(auth_runtime, message)
    assert refused.value.code == error


class FakeDb:
    """Stands in for the database engine the state is keyed by."""


async def test_state_is_made_once_per_runtime_and_closed_by_shutdown(tmp_path: Path) -> None:
    runtime = SimpleNamespace(db=FakeDb(), settings=make_settings(tmp_path))
    state = auth_state(runtime)
    assert isinstance(state, AuthState) and isinstance(state.store, MemoryStore)
    assert auth_state(runtime) is state
    await shutdown(runtime)
    assert auth_state(runtime) is not state
