"""API keys: create / list / revoke, and signed requests (HMAC and Ed25519) with every refusal."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from wcx.api.auth.api_keys import MAX_KEYS
from wcx.api.auth.signing import message
from wcx.store.schema import api_keys

from .conftest import CLIENT_IP, Api, Connect, Session, error_code

pytestmark = pytest.mark.anyio

WHOAMI = "/api/v1/probe/whoami"
TRADE = "/api/v1/probe/trade"


async def keyed(api: Api, email: str = "quinn@example.com", **body: Any) -> tuple[Session, dict[str, Any]]:
    """A user and a new HMAC key (read + trade unless `body` says otherwise)."""
    session = await api.signup(email)
    return session, await api.create_key(
        session, **{"label": "bot", "permissions": ["read", "trade"], **body}
    )


async def test_create_shows_the_secret_once_and_stores_it_encrypted(
    api: Api, auth_runtime: SimpleNamespace
) -> None:
    session, key = await keyed(api, permissions=["trade", "read", "read"])
    assert key["kind"] == "hmac" and key["label"] == "bot" and len(key["secret"]) == 64
    assert key["permissions"] == ["read", "trade"] and key["ip_allowlist"] == []
    listed = (await api.get("/api-keys", session)).json()
    assert listed == [{k: v for k, v in key.items() if k != "secret"}]
    async with auth_runtime.db.connect() as conn:
        stored = (await conn.execute(select(api_keys))).one()
    assert key["secret"] not in stored.secret and stored.public_key is None


async def test_signed_requests_act_for_the_key_owner_with_its_permissions(api: Api) -> None:
    session, key = await keyed(api)
    whoami = (await api.get("/probe/whoami", session)).json()
    response = await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": whoami["user_id"],
        "api_key_id": key["id"],
        "session_id": None,
        "permissions": ["read", "trade"],
    }


async def test_the_body_and_query_are_signed(api: Api) -> None:
    _, key = await keyed(api)
    body = b'{"symbol":"BTC-USDT","quantity":"0.5"}'
    headers = {**api.signed(key, "POST", TRADE, body), "Content-Type": "application/json"}
    assert (await api.http.post(TRADE, content=body, headers=headers)).status_code == 200
    api.clock.advance(0.001)
    headers = {**api.signed(key, "POST", TRADE, body), "Content-Type": "application/json"}
    tampered = await api.http.post(TRADE, content=body.replace(b"0.5", b"5.0"), headers=headers)
    assert (tampered.status_code, error_code(tampered)) == (401, "INVALID_SIGNATURE")
    target = WHOAMI + "?limit=5&cursor=a%2Fb"
    assert (await api.http.get(target, headers=api.signed(key, "GET", target))).status_code == 200
    other = await api.http.get(WHOAMI + "?limit=500", headers=api.signed(key, "GET", WHOAMI + "?limit=5"))
    assert error_code(other) == "INVALID_SIGNATURE"


async def test_a_read_key_cannot_trade(api: Api) -> None:
    _, key = await keyed(api, permissions=["read"])
    refused = await api.http.post(TRADE, headers=api.signed(key, "POST", TRADE))
    assert (refused.status_code, error_code(refused)) == (403, "PERMISSION_DENIED")
    assert (await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))).status_code == 200


@pytest.mark.parametrize(
    ("tamper", "status", "error"),
    [
        ({"X-WCX-SIGNATURE": "00" * 32}, 401, "INVALID_SIGNATURE"),
        ({"X-WCX-SIGNATURE": "zz"}, 401, "INVALID_SIGNATURE"),
        ({"X-WCX-KEY": "0" * 32}, 401, "INVALID_API_KEY"),
        ({"X-WCX-KEY": "k" * 500}, 401, "INVALID_API_KEY"),
        ({"X-WCX-TIMESTAMP": "soon"}, 401, "TIMESTAMP_OUTSIDE_WINDOW"),
        ({"X-WCX-RECV-WINDOW": "60001"}, 400, "INVALID_RECV_WINDOW"),
        ({"X-WCX-RECV-WINDOW": "-1"}, 400, "INVALID_RECV_WINDOW"),
    ],
)
async def test_bad_signed_requests_are_refused(
    api: Api, tamper: dict[str, str], status: int, error: str
) -> None:
    _, key = await keyed(api)
    response = await api.http.get(WHOAMI, headers={**api.signed(key, "GET", WHOAMI), **tamper})
    assert (response.status_code, error_code(response)) == (status, error)


async def test_missing_signature_headers_are_unauthenticated(api: Api) -> None:
    _, key = await keyed(api)
    headers = api.signed(key, "GET", WHOAMI)
    del headers["X-WCX-SIGNATURE"]
    assert error_code(await api.http.get(WHOAMI, headers=headers)) == "UNAUTHENTICATED"


async def test_the_timestamp_window(api: Api) -> None:
    _, key = await keyed(api)
    headers = api.signed(key, "GET", WHOAMI)
    api.clock.advance(5.001)
    stale = await api.http.get(WHOAMI, headers=headers)
    assert (stale.status_code, error_code(stale)) == (401, "TIMESTAMP_OUTSIDE_WINDOW")
    wider = await api.http.get(WHOAMI, headers={**headers, "X-WCX-RECV-WINDOW": "10000"})
    assert wider.status_code == 200, wider.text
    api.clock.advance(-7)  # the client's clock is now 2 s ahead of ours
    ahead = await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))
    assert ahead.status_code == 200
    api.clock.advance(-2)
    early = await api.http.get(WHOAMI, headers=headers)
    assert error_code(early) == "TIMESTAMP_OUTSIDE_WINDOW"


async def test_a_replayed_request_is_refused_even_with_a_wider_window(api: Api) -> None:
    _, key = await keyed(api)
    headers = api.signed(key, "GET", WHOAMI)
    assert (await api.http.get(WHOAMI, headers=headers)).status_code == 200
    replayed = await api.http.get(WHOAMI, headers=headers)
    assert (replayed.status_code, error_code(replayed)) == (401, "REPLAYED_REQUEST")
    api.clock.advance(30)
    late = await api.http.get(WHOAMI, headers={**headers, "X-WCX-RECV-WINDOW": "60000"})
    assert (late.status_code, error_code(late)) == (401, "REPLAYED_REQUEST")


async def test_a_revoked_key_is_refused_at_once(api: Api) -> None:
    session, key = await keyed(api)
    assert (await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))).status_code == 200
    assert (
        await api.http.delete(f"/api/v1/api-keys/{key['id']}", headers=session.headers)
    ).status_code == 204
    api.clock.advance(0.001)
    refused = await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))
    assert (refused.status_code, error_code(refused)) == (401, "INVALID_API_KEY")
    assert (await api.get("/api-keys", session)).json() == []
    again = await api.http.delete(f"/api/v1/api-keys/{key['id']}", headers=session.headers)
    assert (again.status_code, error_code(again)) == (404, "API_KEY_NOT_FOUND")


async def test_another_users_keys_are_not_found(api: Api) -> None:
    _, key = await keyed(api, "rita@example.com")
    intruder = await api.signup("sam@example.com")
    assert (await api.get("/api-keys", intruder)).json() == []
    response = await api.http.delete(f"/api/v1/api-keys/{key['id']}", headers=intruder.headers)
    assert (response.status_code, error_code(response)) == (404, "API_KEY_NOT_FOUND")
    assert (await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))).status_code == 200


async def test_keys_cannot_manage_the_account(api: Api) -> None:
    _, key = await keyed(api)
    body = b'{"permissions":["read"]}'
    for method, path, content in (
        ("POST", "/api/v1/api-keys", body),
        ("GET", "/api/v1/api-keys", b""),
        ("GET", "/api/v1/account/sessions", b""),
        ("POST", "/api/v1/auth/2fa/enable", b""),
    ):
        api.clock.advance(0.001)
        headers = {**api.signed(key, method, path, content), "Content-Type": "application/json"}
        response = await api.http.request(method, path, content=content, headers=headers)
        assert (response.status_code, error_code(response)) == (403, "SESSION_REQUIRED"), path


async def test_withdraw_needs_an_ip_allowlist(api: Api, connect: Connect) -> None:
    session = await api.signup("tess@example.com")
    refused = await api.post("/api-keys", {"permissions": ["read", "withdraw"]}, session)
    assert (refused.status_code, error_code(refused)) == (422, "ALLOWLIST_REQUIRED")
    key = await api.create_key(
        session, permissions=["withdraw"], ip_allowlist=["198.51.100.0/24", "2001:db8::1"]
    )
    assert key["ip_allowlist"] == ["198.51.100.0/24", "2001:db8::1/128"]

    outsider = await api.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))  # from CLIENT_IP
    assert (outsider.status_code, error_code(outsider)) == (403, "IP_NOT_ALLOWED")
    for ip in ("198.51.100.77", "2001:db8::1"):
        inside = await connect(ip)
        api.clock.advance(0.001)
        response = await inside.http.get(WHOAMI, headers=api.signed(key, "GET", WHOAMI))
        assert response.status_code == 200, (ip, response.text)
        assert response.json()["permissions"] == ["withdraw"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"permissions": []}, "INVALID_REQUEST"),
        ({"permissions": ["admin"]}, "INVALID_REQUEST"),
        ({"permissions": ["read"], "ip_allowlist": ["10.0.0.300"]}, "INVALID_IP_ALLOWLIST"),
        ({"permissions": ["read"], "kind": "rsa"}, "INVALID_REQUEST"),
        ({"permissions": ["read"], "kind": "ed25519"}, "INVALID_PUBLIC_KEY"),
        ({"permissions": ["read"], "kind": "ed25519", "public_key": "AAAA"}, "INVALID_PUBLIC_KEY"),
        ({"permissions": ["read"], "public_key": base64.b64encode(b"k" * 32).decode()}, "INVALID_PUBLIC_KEY"),
        ({"permissions": ["read"], "label": "x" * 65}, "INVALID_REQUEST"),
        ({"permissions": ["read"], "secret": "mine"}, "INVALID_REQUEST"),
    ],
)
async def test_create_refuses_bad_input(api: Api, body: dict[str, Any], error: str) -> None:
    session = await api.signup("uma@example.com")
    response = await api.post("/api-keys", body, session)
    assert (response.status_code, error_code(response)) == (422, error)
    assert (await api.get("/api-keys", session)).json() == []


async def test_live_keys_are_capped(api: Api) -> None:
    session = await api.signup("vic@example.com")
    keys = [await api.create_key(session, permissions=["read"]) for _ in range(MAX_KEYS)]
    refused = await api.post("/api-keys", {"permissions": ["read"]}, session)
    assert (refused.status_code, error_code(refused)) == (409, "TOO_MANY_API_KEYS")
    await api.http.delete(f"/api/v1/api-keys/{keys[0]['id']}", headers=session.headers)
    await api.create_key(session, permissions=["read"])


def pem(private: Ed25519PrivateKey) -> str:
    """The public key as PEM."""
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def raw_b64(private: Ed25519PrivateKey) -> str:
    """The public key as base64 of its raw bytes."""
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("encode", [pem, raw_b64])
async def test_ed25519_keys_sign_requests(api: Api, encode: Any) -> None:
    private = Ed25519PrivateKey.generate()
    session = await api.signup("wes@example.com")
    key = await api.create_key(session, kind="ed25519", public_key=encode(private), permissions=["trade"])
    assert key["secret"] is None

    def headers(signer: Ed25519PrivateKey) -> dict[str, str]:
        api.clock.advance(0.001)
        timestamp = api.clock.ms()
        signature = base64.b64encode(signer.sign(message(timestamp, "POST", TRADE))).decode()
        return {"X-WCX-KEY": key["key"], "X-WCX-TIMESTAMP": timestamp, "X-WCX-SIGNATURE": signature}

    accepted = await api.http.post(TRADE, headers=headers(private))
    assert accepted.status_code == 200, accepted.text
    forged = await api.http.post(TRADE, headers=headers(Ed25519PrivateKey.generate()))
    assert (forged.status_code, error_code(forged)) == (401, "INVALID_SIGNATURE")
    garbled = await api.http.post(TRADE, headers={**headers(private), "X-WCX-SIGNATURE": "!!not base64!!"})
    assert error_code(garbled) == "INVALID_SIGNATURE"


async def test_the_client_ip_is_the_one_recorded(api: Api) -> None:
    session = await api.signup("xia@example.com")
    listed = (await api.get("/account/sessions", session)).json()
    assert [s["ip"] for s in listed] == [CLIENT_IP]


async def test_a_repeated_auth_header_counts_once_the_first_wins(api: Api) -> None:
    _, key = await keyed(api, "rory@example.com")
    _, other = await keyed(api, "sam@example.com")
    headers = api.signed(key, "GET", WHOAMI)
    repeated = [*headers.items(), ("X-WCX-KEY", other["key"]), ("X-WCX-SIGNATURE", "0" * 64)]
    response = await api.http.get(WHOAMI, headers=repeated)
    assert response.status_code == 200, response.text
    assert response.json()["api_key_id"] == key["id"]
    reversed_order = [("X-WCX-KEY", other["key"]), *headers.items()]
    refused = await api.http.get(WHOAMI, headers=reversed_order)
    assert (refused.status_code, error_code(refused)) == (401, "INVALID_SIGNATURE")  # not its signature
