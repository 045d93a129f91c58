"""Withdrawal endpoints on the real app and runtime: 2FA / permission / allowlist, address validation,
minimum, limits, balance, four-eyes approval, cancel, and owner-only visibility. Every refusal is a 4xx
with a stable code that leaves no row and no hold behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from embit import bech32
from sqlalchemy import select

from wcx.api.app import create_app
from wcx.api.auth.passwords import Passwords
from wcx.api.auth.signing import hmac_signature, message
from wcx.api.auth.state import AuthState, attach
from wcx.api.auth.store import MemoryStore
from wcx.runtime import Runtime
from wcx.store.audit import verify_audit
from wcx.store.schema import audit_events
from wcx.wallet.withdrawals import approve, list_queue, reject

from .auth.conftest import FakeClock
from .conftest import PASSWORD

pytestmark = pytest.mark.anyio

ALLOWED_IP = "198.51.100.7"
OTHER_IP = "203.0.113.9"
GOOD_ETH = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 test vector
BAD_CHECKSUM = "0x52908400098527886e0F7030069857D2E4169EE7"
COLD = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"


@pytest.fixture
def clocked(runtime: Runtime) -> tuple[Runtime, FakeClock]:
    """The started runtime with auth reading a hand-moved clock (each TOTP code works once)."""
    clock = FakeClock()
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    attach(runtime, AuthState(runtime.settings, clock=clock, passwords=passwords, store=MemoryStore(clock)))
    return runtime, clock


class Client:
    """One user's HTTP client: login, 2FA, API keys, signed calls."""

    def __init__(self, http: dict[str, httpx.AsyncClient], clock: FakeClock, email: str) -> None:
        self.http = http
        self.clock = clock
        self.email = email
        self.headers: dict[str, str] = {}
        self.totp: pyotp.TOTP | None = None
        self.user_id = 0

    async def sign_up(self) -> None:
        """Register, log in, remember the user id."""
        http = self.http["local"]
        assert (
            await http.post("/api/v1/auth/register", json={"email": self.email, "password": PASSWORD})
        ).is_success
        login = await http.post("/api/v1/auth/login", json={"email": self.email, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        self.user_id = (await http.get("/api/v1/account", headers=self.headers)).json()["user_id"]

    async def enable_2fa(self) -> None:
        """Turn TOTP on."""
        http = self.http["local"]
        setup = await http.post("/api/v1/auth/2fa/enable", headers=self.headers)
        self.totp = pyotp.TOTP(setup.json()["secret"])
        verified = await http.post(
            "/api/v1/auth/2fa/verify", json={"totp_code": self.code()}, headers=self.headers
        )
        assert verified.status_code == 200, verified.text

    def code(self) -> str:
        """A fresh TOTP code (each code works once: the clock moves one step first)."""
        assert self.totp is not None
        self.clock.advance(30)
        return self.totp.at(self.clock())

    async def credit(self, asset: str, amount: str) -> None:
        """Fund through the development endpoint."""
        body = {"email": self.email, "asset": asset, "amount": amount}
        assert (await self.http["local"].post("/dev/credit", json=body)).status_code == 200

    async def withdraw(self, totp: bool = True, **body: Any) -> httpx.Response:
        """POST /withdrawals as the session, with a fresh TOTP code unless told otherwise."""
        payload = {"asset": "ETH", "address": GOOD_ETH, "amount": "1", **body}
        if totp:
            payload["totp_code"] = self.code()
        return await self.http["local"].post("/api/v1/withdrawals", json=payload, headers=self.headers)

    async def get(self, path: str) -> httpx.Response:
        """GET as the session."""
        return await self.http["local"].get(f"/api/v1{path}", headers=self.headers)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        """POST as the session."""
        return await self.http["local"].post(f"/api/v1{path}", json=body, headers=self.headers)

    async def balance(self, asset: str) -> tuple[str, str]:
        """(available, held)."""
        rows = {r["asset"]: r for r in (await self.get("/balances")).json()}
        return rows[asset]["available"], rows[asset]["held"]

    async def signed(self, ip: str, key: dict[str, Any], path: str, body: dict[str, Any]) -> httpx.Response:
        """A signed API-key POST from `ip`."""
        self.clock.advance(0.01)
        content = json.dumps(body).encode()
        timestamp = str(round(self.clock() * 1000))
        headers = {
            "X-WCX-KEY": key["key"],
            "X-WCX-TIMESTAMP": timestamp,
            "X-WCX-SIGNATURE": hmac_signature(key["secret"], message(timestamp, "POST", path, content)),
            "Content-Type": "application/json",
        }
        return await self.http[ip].post(path, content=content, headers=headers)


@pytest.fixture
async def clients(clocked: tuple[Runtime, FakeClock]) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """HTTP clients on one app: from loopback, from the allowlisted IP and from another IP."""
    app = create_app(clocked[0])
    out: dict[str, httpx.AsyncClient] = {}
    for name, ip in (("local", "127.0.0.1"), (ALLOWED_IP, ALLOWED_IP), (OTHER_IP, OTHER_IP)):
        transport = httpx.ASGITransport(app, client=(ip, 40000))
        out[name] = httpx.AsyncClient(transport=transport, base_url="http://test")
    yield out
    for http in out.values():
        await http.aclose()


async def user(clients: dict[str, httpx.AsyncClient], clock: FakeClock, email: str) -> Client:
    """A signed-up user with 2FA on and 100 ETH, 1 000 000 USDT, 1 BTC."""
    client = Client(clients, clock, email)
    await client.sign_up()
    await client.enable_2fa()
    for asset, amount in (("ETH", "100"), ("USDT", "1000000"), ("BTC", "1")):
        await client.credit(asset, amount)
    return client


@pytest.fixture(autouse=True)
async def market(clocked: tuple[Runtime, FakeClock], clients: dict[str, httpx.AsyncClient]) -> None:
    """Resting orders, so the KYC limits can value ETH (mid 3 200 USDT) and BTC (mid 65 000 USDT)."""
    maker = await user(clients, clocked[1], "maker@example.com")
    for symbol, bid, ask in (("ETH-USDT", "3000", "3400"), ("BTC-USDT", "60000", "70000")):
        for side, price in (("buy", bid), ("sell", ask)):
            order = {"symbol": symbol, "side": side, "price": price, "quantity": "0.1"}
            assert (await maker.post("/orders", order)).status_code == 201


@pytest.fixture
async def alice(clocked: tuple[Runtime, FakeClock], clients: dict[str, httpx.AsyncClient]) -> Client:
    """Alice, funded, 2FA on."""
    return await user(clients, clocked[1], "alice@example.com")


@pytest.fixture
async def bob(clocked: tuple[Runtime, FakeClock], clients: dict[str, httpx.AsyncClient]) -> Client:
    """Bob, funded, 2FA on."""
    return await user(clients, clocked[1], "bob@example.com")


def code_of(response: httpx.Response) -> tuple[int, str]:
    """(status, error code)."""
    return response.status_code, response.json()["error"]["code"]


async def test_small_withdrawal_is_held_and_approved_automatically(alice: Client) -> None:
    response = await alice.withdraw(amount="1.5", memo="to my ledger")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["state"], body["amount"], body["fee"], body["address"]) == (
        "approved",
        "1.500000000000000000",
        "0.002000000000000000",
        GOOD_ETH,
    )
    assert await alice.balance("ETH") == ("98.498000000000000000", "1.502000000000000000")
    listed = (await alice.get("/withdrawals")).json()
    assert [w["id"] for w in listed] == [body["id"]]
    assert (await alice.get(f"/withdrawals/{body['id']}")).json() == body


async def test_lower_case_address_is_accepted_and_checksummed(alice: Client) -> None:
    response = await alice.withdraw(address=GOOD_ETH.lower(), amount="0.5")
    assert response.status_code == 201, response.text
    assert response.json()["address"] == GOOD_ETH


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"address": BAD_CHECKSUM}, (400, "INVALID_ADDRESS_CHECKSUM")),
        ({"address": "0x1234"}, (400, "INVALID_ADDRESS")),
        ({"address": COLD}, (400, "OWN_ADDRESS")),
        (
            {"asset": "BTC", "address": bech32.encode("tb", 0, bytes(20)), "amount": "0.01"},
            (400, "WRONG_NETWORK"),
        ),
        (
            {"asset": "BTC", "address": bech32.encode("bcrt", 0, bytes(20))[:-1] + "q", "amount": "0.01"},
            (400, "INVALID_ADDRESS_CHECKSUM"),
        ),
        ({"amount": "0.001"}, (400, "BELOW_MINIMUM")),
        ({"amount": "1.0000000000000000001"}, (400, "TOO_PRECISE")),
        ({"amount": "-1"}, (400, "NEGATIVE_AMOUNT")),
        ({"amount": "1e3"}, (400, "INVALID_AMOUNT")),
        ({"asset": "DOGE"}, (400, "UNKNOWN_ASSET")),
        (
            {"asset": "BTC", "address": bech32.encode("bcrt", 0, bytes(range(20))), "amount": "1.5"},
            (422, "INSUFFICIENT_FUNDS"),
        ),
    ],
)
async def test_bad_requests_are_refused_and_leave_nothing(
    alice: Client, body: dict[str, Any], expected: tuple[int, str]
) -> None:
    before = {asset: await alice.balance(asset) for asset in ("ETH", "BTC")}
    response = await alice.withdraw(**body)
    assert code_of(response) == expected, response.text
    assert {asset: await alice.balance(asset) for asset in ("ETH", "BTC")} == before
    assert (await alice.get("/withdrawals")).json() == []


async def set_tier(runtime: Runtime, user: Client, tier: int) -> None:
    """An operator's KYC tier override."""
    async with runtime.db.begin() as conn:
        await runtime.kyc.set_tier(conn, user.user_id, tier)


async def test_kyc_tier_daily_limit_counts_earlier_withdrawals(
    clocked: tuple[Runtime, FakeClock], alice: Client
) -> None:
    await set_tier(clocked[0], alice, 1)  # 2 000 USDT a day (config/kyc.toml)
    first = await alice.withdraw(asset="USDT", amount="1500")
    assert first.status_code == 201, first.text
    assert code_of(await alice.withdraw(asset="USDT", amount="600")) == (403, "KYC_WITHDRAWAL_DAILY_LIMIT")
    # Valued at the market: 1 ETH (mid 3 200 USDT) is over what is left as well.
    assert code_of(await alice.withdraw(amount="0.2")) == (403, "KYC_WITHDRAWAL_DAILY_LIMIT")
    # A cancelled withdrawal gives its share of the limit back.
    assert (await alice.post(f"/withdrawals/{first.json()['id']}/cancel")).json()["state"] == "released"
    assert (await alice.withdraw(asset="USDT", amount="600")).status_code == 201
    assert await alice.balance("USDT") == ("999398.000000", "602.000000")


async def test_a_tier_without_withdrawals_is_refused(
    clocked: tuple[Runtime, FakeClock], alice: Client
) -> None:
    await set_tier(clocked[0], alice, 0)
    assert code_of(await alice.withdraw(amount="1")) == (403, "KYC_WITHDRAWALS_NOT_ALLOWED")
    assert await alice.balance("ETH") == ("100.000000000000000000", "0.000000000000000000")
    assert (await alice.get("/withdrawals")).json() == []


async def test_session_needs_2fa_on_and_a_current_code(
    clocked: tuple[Runtime, FakeClock], clients: dict[str, httpx.AsyncClient]
) -> None:
    carol = Client(clients, clocked[1], "carol@example.com")
    await carol.sign_up()
    await carol.credit("ETH", "10")
    assert code_of(await carol.withdraw(totp=False, totp_code="123456")) == (403, "TOTP_NOT_ENABLED")
    await carol.enable_2fa()
    assert code_of(await carol.withdraw(totp=False)) == (403, "SECOND_FACTOR_REQUIRED")
    assert code_of(await carol.withdraw(totp=False, totp_code="000000")) == (403, "INVALID_SECOND_FACTOR")
    used = carol.code()
    assert (await carol.withdraw(totp=False, totp_code=used)).status_code == 201
    assert code_of(await carol.withdraw(totp=False, totp_code=used)) == (403, "INVALID_SECOND_FACTOR")
    assert await carol.balance("ETH") == ("8.998000000000000000", "1.002000000000000000")


async def test_api_key_needs_withdraw_permission_and_an_allowed_ip(alice: Client) -> None:
    path = "/api/v1/withdrawals"
    body = {"asset": "ETH", "address": GOOD_ETH, "amount": "1"}
    trade_key = (await alice.post("/api-keys", {"permissions": ["read", "trade"]})).json()
    assert code_of(await alice.signed(ALLOWED_IP, trade_key, path, body)) == (403, "PERMISSION_DENIED")
    key = (await alice.post("/api-keys", {"permissions": ["withdraw"], "ip_allowlist": [ALLOWED_IP]})).json()
    assert code_of(await alice.signed(OTHER_IP, key, path, body)) == (403, "IP_NOT_ALLOWED")
    assert await alice.balance("ETH") == ("100.000000000000000000", "0.000000000000000000")
    accepted = await alice.signed(ALLOWED_IP, key, path, body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["state"] == "approved"


async def test_large_withdrawal_needs_two_distinct_admins(
    clocked: tuple[Runtime, FakeClock], alice: Client
) -> None:
    db = clocked[0].db
    response = await alice.withdraw(amount="20")
    assert response.json()["state"] == "pending_approval"
    wid = response.json()["id"]
    assert [w.id for w in await list_queue(db)] == [wid]
    assert (await approve(db, wid, "admin-1")).state == "pending_approval"
    with pytest.raises(Exception, match="another admin") as refused:
        await approve(db, wid, "admin-1")
    assert getattr(refused.value, "code", "") == "SAME_APPROVER"
    approved = await approve(db, wid, "admin-2")
    assert (approved.state, approved.approvals) == ("approved", 2)
    assert await list_queue(db) == []
    assert (await alice.get(f"/withdrawals/{wid}")).json()["approvals"] == 2


async def test_rejected_withdrawal_releases_the_hold(
    clocked: tuple[Runtime, FakeClock], alice: Client
) -> None:
    wid = (await alice.withdraw(amount="20")).json()["id"]
    assert await alice.balance("ETH") == ("79.998000000000000000", "20.002000000000000000")
    rejected = await reject(clocked[0].db, clocked[0], wid, "admin-1", "destination flagged")
    assert (rejected.state, rejected.reason) == ("released", "back_office")
    assert await alice.balance("ETH") == ("100.000000000000000000", "0.000000000000000000")
    with pytest.raises(Exception, match="released"):
        await approve(clocked[0].db, wid, "admin-2")


async def test_another_users_withdrawal_is_invisible(alice: Client, bob: Client) -> None:
    wid = (await alice.withdraw(amount="1")).json()["id"]
    assert code_of(await bob.get(f"/withdrawals/{wid}")) == (404, "UNKNOWN_WITHDRAWAL")
    assert code_of(await bob.post(f"/withdrawals/{wid}/cancel")) == (404, "UNKNOWN_WITHDRAWAL")
    assert (await bob.get("/withdrawals")).json() == []
    assert (await alice.get(f"/withdrawals/{wid}")).json()["state"] == "approved"


async def test_cancel_gives_funds_back_once(alice: Client) -> None:
    wid = (await alice.withdraw(amount="2")).json()["id"]
    cancelled = await alice.post(f"/withdrawals/{wid}/cancel")
    assert (cancelled.json()["state"], cancelled.json()["reason"]) == ("released", "user")
    assert await alice.balance("ETH") == ("100.000000000000000000", "0.000000000000000000")
    assert code_of(await alice.post(f"/withdrawals/{wid}/cancel")) == (409, "NOT_CANCELLABLE")


async def test_address_book_locks_withdrawals_to_cooled_off_entries(alice: Client) -> None:
    entry = await alice.post(
        "/withdrawal-addresses",
        {"asset": "ETH", "address": GOOD_ETH.lower(), "label": "ledger", "totp_code": alice.code()},
    )
    assert entry.status_code == 201, entry.text
    assert entry.json()["address"] == GOOD_ETH
    assert code_of(await alice.withdraw(amount="1")) == (403, "ADDRESS_COOLING_OFF")
    other = "0x" + "ab" * 20
    assert code_of(await alice.withdraw(address=other, amount="1")) == (403, "ADDRESS_NOT_IN_BOOK")
    duplicate = await alice.post(
        "/withdrawal-addresses", {"asset": "ETH", "address": GOOD_ETH, "totp_code": alice.code()}
    )
    assert code_of(duplicate) == (409, "ADDRESS_EXISTS")
    assert code_of(await alice.post("/withdrawal-addresses", {"asset": "ETH", "address": GOOD_ETH})) == (
        403,
        "SECOND_FACTOR_REQUIRED",
    )
    removed = await alice.http["local"].delete(
        f"/api/v1/withdrawal-addresses/{entry.json()['id']}", headers=alice.headers
    )
    assert removed.status_code == 204
    assert (await alice.withdraw(amount="1")).status_code == 201


async def test_a_deposit_address_of_this_exchange_is_refused(alice: Client, bob: Client) -> None:
    deposit = (await bob.get("/deposit-address?asset=ETH")).json()["address"]
    assert code_of(await alice.withdraw(address=deposit.lower(), amount="1")) == (400, "OWN_ADDRESS")
    assert await alice.balance("ETH") == ("100.000000000000000000", "0.000000000000000000")


async def test_requests_and_cancels_are_in_the_audit_trail(
    clocked: tuple[Runtime, FakeClock], alice: Client
) -> None:
    wid = (await alice.withdraw(amount="1")).json()["id"]
    await alice.post(f"/withdrawals/{wid}/cancel")
    async with clocked[0].db.connect() as conn:
        rows = (await conn.execute(select(audit_events).order_by(audit_events.c.id))).all()
        verdict = await verify_audit(conn)
    mine = [
        (r.actor, r.action, r.details["after"]["withdrawal"])
        for r in rows
        if r.action.startswith("withdrawal.")
    ]
    actor = f"user:{alice.user_id}"
    assert mine == [(actor, "withdrawal.request", wid), (actor, "withdrawal.cancel", wid)]
    assert verdict.ok
