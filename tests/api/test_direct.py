"""The direct order routes answer exactly as FastAPI's routes for the same endpoints would."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wcx.api import direct
from wcx.api.app import create_app
from wcx.api.auth.signing import hmac_signature, message
from wcx.cluster import ClusterUnavailableError
from wcx.runtime import Runtime

from .conftest import BASE, User
from .test_trading import BAD_BODIES, ORDERS, limit

pytestmark = pytest.mark.anyio

VOLATILE = {"x-request-id", "date"}


def fastapi_only(runtime: Runtime) -> FastAPI:
    """The same app with the direct routes left out, so FastAPI's own routes answer."""
    app = create_app(runtime)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not direct.DirectOrderRoutes]
    return app


@pytest.fixture
async def reference(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the FastAPI-only app over the same runtime as `client`."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(fastapi_only(runtime)), base_url=BASE) as http:
        yield http


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the direct routes answered (proof that the comparison is not FastAPI against itself)."""
    paths: list[str] = []
    serve = direct._serve

    async def counting(scope: Any, *args: Any) -> None:
        paths.append(scope["path"])
        await serve(scope, *args)

    monkeypatch.setattr(direct, "_serve", counting)
    return paths


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and headers that do not vary between two identical requests."""
    headers = {
        k: v for k, v in response.headers.items() if k not in VOLATILE and not k.startswith("ratelimit")
    }
    return response.status_code, response.json(), headers


CONTENT_TYPES = [None, "text/plain", "application/json; charset=utf-8", "application/vnd.api+json"]


@pytest.mark.parametrize(("label", "body"), BAD_BODIES, ids=[label for label, _ in BAD_BODIES])
async def test_bad_placements_answer_as_fastapi_does(
    client: httpx.AsyncClient,
    reference: httpx.AsyncClient,
    served: list[str],
    alice: User,
    label: str,
    body: Any,
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    for content_type in CONTENT_TYPES:
        headers = alice.headers | ({"Content-Type": content_type} if content_type else {})
        got = await client.post(ORDERS, content=content, headers=headers)
        expected = await reference.post(ORDERS, content=content, headers=headers)
        assert 400 <= got.status_code < 500, (label, content_type, got.text)
        assert answer(got) == answer(expected), (label, content_type)
    assert served == [ORDERS] * len(CONTENT_TYPES)


async def test_invalid_utf8_json_answers_as_fastapi_does(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, served: list[str], alice: User
) -> None:
    headers = alice.headers | {"Content-Type": "application/json"}
    for content in (b"\xff\xfe{", b'{"symbol": "\xc3"}', b"\x00"):
        got, expected = [
            await http.post(ORDERS, content=content, headers=headers) for http in (client, reference)
        ]
        assert answer(got) == answer(expected), content
    assert len(served) == 3


async def test_refusals_before_the_body_answer_as_fastapi_does(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, served: list[str], alice: User
) -> None:
    key = await client.post("/api/v1/api-keys", json={"permissions": ["read"]}, headers=alice.headers)
    credential = key.json()
    body = json.dumps(limit("buy", "50000", "0.1")).encode()
    stamp = (await client.get("/api/v1/time")).json()["time_ms"]
    for offset, http in enumerate((client, reference)):
        timestamp = str(stamp + offset)  # a new signed message each time: the same one would be a replay
        signed = {
            "X-WCX-KEY": credential["key"],
            "X-WCX-TIMESTAMP": timestamp,
            "X-WCX-SIGNATURE": hmac_signature(credential["secret"], message(timestamp, "POST", ORDERS, body)),
            "Content-Type": "application/json",
        }
        read_only = await http.post(ORDERS, content=body, headers=signed)
        assert answer(read_only)[:2] == (
            403,
            _error("PERMISSION_DENIED", "this API key lacks the trade permission"),
        )
    for method, path in (("POST", ORDERS), ("DELETE", f"{ORDERS}/1")):
        anonymous = [await http.request(method, path, content=body) for http in (client, reference)]
        assert anonymous[0].status_code == 401
        assert answer(anonymous[0]) == answer(anonymous[1])
        bad_token = {"Authorization": "Bearer nope"}
        forged = [
            await http.request(method, path, content=body, headers=bad_token) for http in (client, reference)
        ]
        assert answer(forged[0]) == answer(forged[1])
    assert len(served) == 5


async def test_cancels_answer_as_fastapi_does(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, served: list[str], alice: User, bob: User
) -> None:
    placed = await client.post(ORDERS, json=limit("buy", "50000", "0.1"), headers=bob.headers)
    theirs = placed.json()["order_id"]
    for path in (
        f"{ORDERS}/{theirs}",
        f"{ORDERS}/987654",
        f"{ORDERS}/abc",
        f"{ORDERS}/-1",
        f"{ORDERS}/{'9' * 30}",
    ):
        got, expected = [await http.delete(path, headers=alice.headers) for http in (client, reference)]
        assert answer(got) == answer(expected), path
    assert served == [ORDERS, f"{ORDERS}/{theirs}", f"{ORDERS}/987654"]  # the rest is for FastAPI

    own = (await client.post(ORDERS, json=limit("buy", "50000", "0.1"), headers=alice.headers)).json()
    cancelled = await client.delete(f"{ORDERS}/{own['order_id']}", headers=alice.headers)
    assert cancelled.status_code == 200
    assert (cancelled.json()["order_id"], cancelled.json()["status"]) == (own["order_id"], "cancelled")


async def test_a_placement_answers_as_fastapi_does(
    client: httpx.AsyncClient, reference: httpx.AsyncClient, served: list[str], alice: User
) -> None:
    answers = []
    for n, http in enumerate((client, reference)):
        response = await http.post(
            ORDERS, json=limit("sell", "70000", "0.1", client_order_id=f"c{n}"), headers=alice.headers
        )
        assert response.headers["ratelimit-remaining"]
        status, body, headers = answer(response)
        answers.append((status, body | {"order_id": 0, "client_order_id": ""}, headers))
    assert answers[0] == answers[1]
    assert answers[0][0] == 201
    retry = await client.post(
        ORDERS, json=limit("sell", "70000", "0.1", client_order_id="c0"), headers=alice.headers
    )
    assert retry.status_code == 200  # the same order again, as the endpoint decided
    assert served == [ORDERS, ORDERS]


def _error(code: str, text: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": text}}


async def test_a_cluster_that_does_not_answer_is_a_503_with_retry_after(
    client: httpx.AsyncClient, runtime: Runtime, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = await client.post("/api/v1/orders", json=limit("buy", "100", "1"), headers=alice.headers)
    assert placed.status_code == 201, placed.text
    resting = placed.json()

    async def unavailable(command: object) -> list[object]:
        raise ClusterUnavailableError("commands not acknowledged: no leader")

    monkeypatch.setattr(runtime, "submit", unavailable)
    for method, path, body in (
        ("POST", "/api/v1/orders", limit("buy", "100", "1")),
        ("DELETE", f"/api/v1/orders/{resting['order_id']}", None),
    ):
        answer = await client.request(method, path, json=body, headers=alice.headers)
        assert answer.status_code == 503, (method, answer.text)
        assert answer.json()["error"]["code"] == "ENGINE_UNAVAILABLE"
        assert answer.headers["retry-after"] == "1"
