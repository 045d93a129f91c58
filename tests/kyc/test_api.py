"""KYC through the API in-process: tiers gate trading and withdrawals, and upgrades take effect at once."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

import httpx
import pytest
from api.conftest import User, credit, sign_up
from api.conftest import anyio_backend as anyio_backend  # noqa: PLC0414 - fixtures
from api.conftest import client as client  # noqa: PLC0414
from api.conftest import runtime as runtime  # noqa: PLC0414

from wcx.api.auth.signing import hmac_signature, message
from wcx.api.errors import ApiError
from wcx.api.kyc_limits import engine_prices, require_withdrawal_allowed
from wcx.engine import HoldWithdrawal, ReleaseWithdrawal
from wcx.kyc import Decision
from wcx.runtime import Runtime
from wcx.testing.kyc import sample_pdf, sample_png

pytestmark = pytest.mark.anyio

ALICE_DATA = {
    "full_name": "Alice Example",
    "date_of_birth": "1990-04-01",
    "country": "DE",
    "address": "Hauptstrasse 1, 10115 Berlin",
}
USDT = 10**6


@pytest.fixture(autouse=True)
def production_default_tier(runtime: Runtime) -> None:
    """New users start at tier 0, as in production (development's default is tier 3)."""
    runtime.kyc.default_tier = 0


async def _order(
    client: httpx.AsyncClient, user: User, side: str, price: str, quantity: str
) -> httpx.Response:
    body = {"symbol": "BTC-USDT", "side": side, "type": "limit", "price": price, "quantity": quantity}
    return await client.post("/api/v1/orders", json=body, headers=user.headers)


async def _binance_order(client: httpx.AsyncClient, user: User) -> httpx.Response:
    """A signed Binance-format order (the other order entry) with a fresh API key."""
    key = await client.post("/api/v1/api-keys", json={"permissions": ["read", "trade"]}, headers=user.headers)
    assert key.status_code == 201, key.text
    query = urlencode(
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": "65000",
            "quantity": "0.01",
            "timestamp": str(int(time.time() * 1000)),
        }
    )
    signature = hmac.new(key.json()["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
    return await client.post(
        f"/api/v3/order?{query}&signature={signature}", headers={"X-MBX-APIKEY": key.json()["key"]}
    )


async def _refused(runtime: Runtime, user: User, asset: str, amount: int) -> str:
    """The KYC code refusing a withdrawal, or "" when it is allowed."""
    try:
        await require_withdrawal_allowed(runtime, user.user_id, asset, amount)
    except ApiError as exc:
        assert exc.status == 403
        return exc.code
    return ""


async def _approve(client: httpx.AsyncClient, runtime: Runtime, user: User, tier: int) -> None:
    """The user applies for `tier` through the API; a reviewer approves it through the service."""
    created = await client.post(
        "/api/v1/kyc/submissions",
        json={"requested_tier": tier, "personal_data": ALICE_DATA},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    submission_id = created.json()["id"]
    for kind, name, data in (("id_document", "id.pdf", sample_pdf()), ("selfie", "me.png", sample_png())):
        if tier >= 2:
            uploaded = await client.post(
                f"/api/v1/kyc/submissions/{submission_id}/documents",
                data={"kind": kind},
                files={"file": (name, data, "application/octet-stream")},
                headers=user.headers,
            )
            assert uploaded.status_code == 201, uploaded.text
    submitted = await client.post(f"/api/v1/kyc/submissions/{submission_id}/submit", headers=user.headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    async with runtime.db.begin() as conn:
        await runtime.kyc.decide(conn, submission_id, Decision.APPROVE, reviewer="admin:1", tier=tier)


async def test_tier_limits_are_enforced_and_upgrades_take_effect(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    alice = await sign_up(client, "alice@example.com")
    bob = await sign_up(client, "bob@example.com")
    for user in (alice, bob):
        await credit(client, user, "USDT", "100000")
        await credit(client, user, "BTC", "2")

    status = (await client.get("/api/v1/kyc", headers=alice.headers)).json()
    assert (status["tier"], status["limits"]["trading"], status["limits"]["withdrawal_daily"]) == (
        0,
        False,
        "0.000000",
    )
    refused = await _order(client, alice, "sell", "65000", "0.01")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "KYC_TRADING_NOT_ALLOWED"
    assert await _refused(runtime, alice, "USDT", 10 * USDT) == "KYC_WITHDRAWALS_NOT_ALLOWED"
    binance = await _binance_order(client, alice)
    assert binance.status_code == 403 and binance.json()["code"] == -2010
    assert "KYC_TRADING_NOT_ALLOWED" in binance.json()["msg"]
    assert runtime.engine.state.orders == {}

    await _approve(client, runtime, alice, tier=1)
    await _approve(client, runtime, bob, tier=2)
    # Upgrades apply to the very next order: a trade at 65 000 also gives BTC its price.
    assert (await _order(client, alice, "sell", "65000", "0.01")).status_code == 201
    assert (await _order(client, bob, "buy", "65000", "0.01")).status_code == 201
    assert (await engine_prices(runtime)).reference_value("BTC", 10**8) == 65000 * USDT

    # Tier 1: 2 000 USDT a day, counted over every asset at the current price, fee included.
    assert await _refused(runtime, alice, "USDT", 2001 * USDT) == "KYC_WITHDRAWAL_DAILY_LIMIT"
    assert await _refused(runtime, alice, "USDT", 1500 * USDT) == ""
    events = await runtime.submit(HoldWithdrawal("w-1", alice.user_id, "USDT", 1499 * USDT, fee=USDT))
    assert type(events[0]).__name__ == "WithdrawalHeld"
    assert await _refused(runtime, alice, "BTC", 10**6) == "KYC_WITHDRAWAL_DAILY_LIMIT"  # 650 USDT
    assert await _refused(runtime, alice, "BTC", 7 * 10**5) == ""  # 455 USDT
    status = (await client.get("/api/v1/kyc", headers=alice.headers)).json()
    assert (status["tier"], status["withdrawn_24h"], status["limits"]["withdrawal_daily"]) == (
        1,
        "1500.000000",
        "2000.000000",
    )
    # A released (rejected) withdrawal no longer counts.
    await runtime.submit(ReleaseWithdrawal("w-1"))
    assert await _refused(runtime, alice, "BTC", 10**6) == ""
    # ETH has no trade and no book: no price, so no guess.
    assert await _refused(runtime, alice, "ETH", 10**18) == "KYC_PRICE_UNAVAILABLE"

    # Tier 2 holds 50 000 a day.
    assert await _refused(runtime, bob, "USDT", 50_000 * USDT) == ""
    assert await _refused(runtime, bob, "BTC", 10**8) == "KYC_WITHDRAWAL_DAILY_LIMIT"


async def test_submissions_belong_to_their_owner_and_api_keys_cannot_change_them(
    client: httpx.AsyncClient,
) -> None:
    alice = await sign_up(client, "alice@example.com")
    mallory = await sign_up(client, "mallory@example.com")
    created = await client.post(
        "/api/v1/kyc/submissions",
        json={"requested_tier": 2, "personal_data": ALICE_DATA},
        headers=alice.headers,
    )
    submission_id = created.json()["id"]
    for method, path, body in (
        ("GET", f"/api/v1/kyc/submissions/{submission_id}", None),
        ("PATCH", f"/api/v1/kyc/submissions/{submission_id}", {"personal_data": {"full_name": "M"}}),
        ("POST", f"/api/v1/kyc/submissions/{submission_id}/submit", None),
    ):
        answer = await client.request(method, path, json=body, headers=mallory.headers)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "KYC_SUBMISSION_NOT_FOUND"
    bad = await client.post(
        "/api/v1/kyc/submissions",
        json={"requested_tier": 1, "personal_data": {"full_name": "X", "date_of_birth": "2020-01-01"}},
        headers=mallory.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_REQUEST"
    patched = await client.patch(
        f"/api/v1/kyc/submissions/{submission_id}",
        json={"personal_data": {"country": "fr"}},
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["personal_data"]["country"] == "FR"
    assert patched.json()["personal_data"]["full_name"] == "Alice Example"
    incomplete = await client.post(f"/api/v1/kyc/submissions/{submission_id}/submit", headers=alice.headers)
    assert incomplete.status_code == 400
    assert incomplete.json()["error"]["code"] == "KYC_REQUIREMENTS_MISSING"
    key = await client.post(
        "/api/v1/api-keys", json={"label": "bot", "permissions": ["read", "trade"]}, headers=alice.headers
    )
    assert key.status_code == 201, key.text
    stamp = str(int(time.time() * 1000))
    target = f"/api/v1/kyc/submissions/{submission_id}/submit"
    signed = {
        "X-WCX-KEY": key.json()["key"],
        "X-WCX-TIMESTAMP": stamp,
        "X-WCX-SIGNATURE": hmac_signature(key.json()["secret"], message(stamp, "POST", target)),
    }
    by_key = await client.post(target, headers=signed)
    assert by_key.status_code == 403 and by_key.json()["error"]["code"] == "KYC_SESSION_REQUIRED"
