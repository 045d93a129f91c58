"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real `wcx serve`.

Admins are bootstrapped with `wcx admin create`, the server runs on free loopback ports, and every
step leaves a screenshot in test-artifacts/admin/ (gitignored). Chromium comes from the distribution
(`.ci/setup.d/chromium.sh`); Playwright never downloads a browser.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from wcx.admin.accounts import create_admin
from wcx.admin.permissions import Role
from wcx.admin.state import AdminState
from wcx.config.settings import load_settings
from wcx.runtime import read_lock_info
from wcx.store.db import create_engine
from wcx.testing.kyc import sample_pdf, sample_png

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin"
CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "admin staple battery horse"
USER_PASSWORD = "correct horse battery"
GOOD_ETH = "0x52908400098527886E0F7030069857D2E4169EE7"  # EIP-55 test vector
ADMINS = {
    "operator": "operator",
    "treasury-a": "treasury",
    "treasury-b": "treasury",
    "compliance-a": "compliance",
    "treasury-c": "treasury",
    "treasury-d": "treasury",
}


@dataclass
class Exchange:
    """A running `wcx serve` with bootstrapped admins (name -> TOTP)."""

    data_dir: Path
    api: str = ""
    admin: str = ""
    totp: dict[str, pyotp.TOTP] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The server's environment (also used by `wcx admin create`)."""
        return {
            **os.environ,
            "WCX_ENV": "development",
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "JWT_SECRET": "browser-jwt-secret-" + "j" * 32,
            "REFRESH_SECRET": "browser-refresh-secret-" + "r" * 32,
            "LOG_LEVEL": "WARNING",
            "WCX_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KYC_DEFAULT_TIER": "1",  # new users may apply for tier 2 (development would start them at 3)
            "KYC_STORAGE_DIR": str(self.data_dir.parent / "kyc"),
        }

    def log_tail(self) -> str:
        """The end of the server's output."""
        return (self.data_dir.parent / "server.log").read_text(errors="replace")[-4000:]


def email_of(name: str) -> str:
    """The bootstrapped admin's email."""
    return f"{name}@admin.example.com"


async def _create_admins(exchange: Exchange, admins: list[tuple[str, str]]) -> dict[str, pyotp.TOTP]:
    env = exchange.env
    settings = load_settings(
        data_dir=exchange.data_dir,
        database_url="",
        redis_url="",
        jwt_secret=env["JWT_SECRET"],
        refresh_secret=env["REFRESH_SECRET"],
    )
    engine = create_engine(settings.resolved_database_url())
    state = AdminState(settings)
    try:
        created = {
            name: await create_admin(
                engine,
                state,
                email=email_of(name),
                role=Role(role),
                password=ADMIN_PASSWORD,
                created_by="test",
            )
            for name, role in admins
        }
    finally:
        await engine.dispose()
    return {name: pyotp.TOTP(admin.totp_secret) for name, admin in created.items()}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """Admins created from the command line, then the real server on free ports."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} missing: install Debian's chromium (.ci/setup.d/chromium.sh)"
        if os.environ.get("WCX_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(f"!!! SKIPPING browser tests: {message}")
    exchange = Exchange(tmp_path_factory.mktemp("browser") / "data")
    # The first admin comes from the command line, as on a new installation; the rest directly.
    first, *others = ADMINS.items()
    for name, role in [first]:
        created = subprocess.run(
            [sys.executable, "-m", "wcx", "admin", "create", "--email", email_of(name), "--role", role],
            env=exchange.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        secret = re.search(r"^totp secret: (\S+)$", created.stdout, re.MULTILINE)
        assert secret is not None, created.stdout
        exchange.totp[name] = pyotp.TOTP(secret.group(1))
    exchange.totp.update(asyncio.run(_create_admins(exchange, others)))
    command = [sys.executable, "-m", "wcx", "serve", "--port", "0", "--admin-port", "0"]
    with (exchange.data_dir.parent / "server.log").open("ab") as log:
        exchange.process = subprocess.Popen(command, env=exchange.env, stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert exchange.process.poll() is None, exchange.log_tail()
        info = read_lock_info(exchange.data_dir)
        exchange.api, exchange.admin = info.get("api", ""), info.get("admin", "")
        try:
            if exchange.api and httpx.get(f"{exchange.api}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError(f"server not ready\n{exchange.log_tail()}")
    try:
        yield exchange
    finally:
        exchange.process.send_signal(signal.SIGTERM)
        assert exchange.process.wait(timeout=30) == 0, exchange.log_tail()


@pytest.fixture(scope="module")
def browser(exchange: Exchange) -> Iterator[Browser]:
    """Debian's Chromium, headless (no sandbox: CI runs as root); after the exchange (Playwright's
    sync API keeps an event loop running, and the exchange's set-up runs its own)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    """Keep a screenshot of the page as a test artifact."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(browser: Browser, exchange: Exchange, name: str) -> Page:
    """A fresh browser context signed in as the admin `name` with its current TOTP code."""
    page = browser.new_context(base_url=exchange.admin, viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(10_000)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Email").fill(email_of(name))
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Authenticator code").fill(exchange.totp[name].now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    return page


def register_user(exchange: Exchange, email: str) -> int:
    """A verified user (development) and its id."""
    with httpx.Client(base_url=exchange.api, timeout=10) as http:
        assert (
            http.post("/api/v1/auth/register", json={"email": email, "password": USER_PASSWORD}).status_code
            < 300
        )
        tokens = http.post("/api/v1/auth/login", json={"email": email, "password": USER_PASSWORD}).json()
        account = http.get("/api/v1/account", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        user_id: int = account.json()["user_id"]
        return user_id


def balance(exchange: Exchange, email: str, asset: str) -> str:
    """The user's available balance of `asset`, through the public API."""
    with httpx.Client(base_url=exchange.api, timeout=10) as http:
        tokens = http.post("/api/v1/auth/login", json={"email": email, "password": USER_PASSWORD}).json()
        rows = http.get(
            "/api/v1/balances", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).json()
        return next((row["available"] for row in rows if row["asset"] == asset), "0")


def test_sign_in_with_totp_then_halt_and_resume_a_market(browser: Browser, exchange: Exchange) -> None:
    page = browser.new_context(base_url=exchange.admin).new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email_of("operator"))
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Authenticator code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".error")).to_contain_text("wrong email, password or authenticator code")
    shot(page, "01-login-refused")

    page = sign_in(browser, exchange, "operator")
    shot(page, "02-overview")
    page.get_by_role("link", name="Markets").click()
    row = page.locator("#market-BTC-USDT")
    expect(row.get_by_test_id("status")).to_have_text("trading")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Halt").click()
    expect(row.get_by_test_id("status")).to_have_text("halted")
    shot(page, "03-market-halted")
    public = httpx.get(f"{exchange.api}/api/v1/markets/BTC-USDT", timeout=10).json()
    assert public["status"] == "halted"

    row.get_by_role("button", name="Resume").click()
    expect(row.get_by_test_id("status")).to_have_text("trading")
    shot(page, "04-market-resumed")
    assert httpx.get(f"{exchange.api}/api/v1/markets/BTC-USDT", timeout=10).json()["status"] == "trading"
    page.reload()
    expect(page.locator("#market-BTC-USDT").get_by_test_id("status")).to_have_text("trading")


def test_a_wire_credit_is_approved_by_a_second_treasurer(browser: Browser, exchange: Exchange) -> None:
    user_id = register_user(exchange, "wire.customer@example.com")
    requester = sign_in(browser, exchange, "treasury-a")
    requester.goto(f"/users/{user_id}")
    requester.get_by_text("Credit a fiat wire").click()
    requester.get_by_label("asset").select_option("USDT")
    requester.get_by_label("amount").fill("1250.75")
    requester.get_by_label("wire reference").fill("BANK-REF-77")
    requester.get_by_role("button", name="Request credit").click()
    created = requester.locator("[data-approval]")
    expect(created).to_contain_text("waiting for a second admin")
    approval_id = created.get_attribute("data-approval")
    shot(requester, "05-credit-requested")
    requester.goto("/approvals")
    own = requester.locator(f"#approval-{approval_id}")
    expect(own).to_contain_text("awaiting another admin")
    expect(own.get_by_role("button", name="Approve")).to_have_count(0)
    assert balance(exchange, "wire.customer@example.com", "USDT") in ("0", "0.000000")

    approver = sign_in(browser, exchange, "treasury-b")
    approver.goto("/approvals")
    row = approver.locator(f"#approval-{approval_id}")
    row.get_by_role("button", name="Approve").click()
    expect(approver.locator(f"#approval-{approval_id}").get_by_test_id("approval-status")).to_have_text(
        "approved"
    )
    shot(approver, "06-credit-approved")
    assert balance(exchange, "wire.customer@example.com", "USDT") == "1250.750000"

    approver.goto(f"/users/{user_id}")
    expect(approver.locator("text=wire:BANK-REF-77")).to_be_visible()
    shot(approver, "07-user-view")


def test_compliance_approves_a_kyc_case_then_two_treasurers_approve_a_withdrawal(
    browser: Browser, exchange: Exchange
) -> None:
    email = "applicant@example.com"
    register_user(exchange, email)
    with httpx.Client(base_url=exchange.api, timeout=10) as http:
        kyc_then_withdrawal(browser, exchange, http, email)


def kyc_then_withdrawal(browser: Browser, exchange: Exchange, http: httpx.Client, email: str) -> None:
    """The story behind the test above, with one HTTP client for the user's side."""
    tokens = http.post("/api/v1/auth/login", json={"email": email, "password": USER_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    personal = {
        "full_name": "Ada Applicant",
        "date_of_birth": "1988-02-03",
        "country": "FR",
        "address": "1 rue X",
    }
    created = http.post(
        "/api/v1/kyc/submissions", json={"requested_tier": 2, "personal_data": personal}, headers=headers
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    for kind, name, data in (
        ("id_document", "passport.png", sample_png((320, 200))),
        ("selfie", "me.pdf", sample_pdf()),
    ):
        uploaded = http.post(
            f"/api/v1/kyc/submissions/{case_id}/documents",
            data={"kind": kind},
            files={"file": (name, data, "application/octet-stream")},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
    assert http.post(f"/api/v1/kyc/submissions/{case_id}/submit", headers=headers).status_code == 200
    setup = http.post("/api/v1/auth/2fa/enable", headers=headers).json()
    totp = pyotp.TOTP(setup["secret"])
    used: set[str] = set()

    def fresh_code() -> str:
        """A code the server accepts (the previous, current or next step) that was not used yet."""
        now = time.time()
        code = next(c for c in (totp.at(now), totp.at(now + 30), totp.at(now - 30)) if c not in used)
        used.add(code)
        return code

    verified = http.post("/api/v1/auth/2fa/verify", json={"totp_code": fresh_code()}, headers=headers)
    assert verified.status_code == 200, verified.text
    credited = http.post("/dev/credit", json={"email": email, "asset": "USDT", "amount": "20000"})
    assert credited.status_code == 200, credited.text
    withdrawal = {"asset": "USDT", "address": GOOD_ETH, "amount": "10000"}
    assert http.get("/api/v1/kyc", headers=headers).json()["tier"] == 1
    early = http.post("/api/v1/withdrawals", json={**withdrawal, "totp_code": fresh_code()}, headers=headers)
    assert early.status_code == 403, early.text  # tier 1 allows 2000 USDT a day
    assert early.json()["error"]["code"] == "KYC_WITHDRAWAL_DAILY_LIMIT", early.text

    compliance = sign_in(browser, exchange, "compliance-a")
    compliance.get_by_role("link", name="KYC").click()
    compliance.get_by_role("link", name=f"#{case_id}").click()
    viewer = compliance.locator("img[data-testid=document]")
    expect(viewer).to_be_visible()
    assert viewer.evaluate("img => img.complete && img.naturalWidth") == 320
    expect(compliance.locator("iframe[data-testid=document]")).to_have_count(1)
    shot(compliance, "08-kyc-case")
    compliance.get_by_role("button", name="Approve tier 2").click()
    expect(compliance.get_by_test_id("kyc-status")).to_have_text("approved")
    shot(compliance, "09-kyc-approved")

    # The tier upgrade takes effect: the same withdrawal is accepted now, and waits for four eyes.
    assert http.get("/api/v1/kyc", headers=headers).json()["tier"] == 2
    accepted = http.post(
        "/api/v1/withdrawals", json={**withdrawal, "totp_code": fresh_code()}, headers=headers
    )
    assert accepted.status_code == 201, accepted.text
    withdrawal_id = accepted.json()["id"]
    assert accepted.json()["state"] == "pending_approval"

    first = sign_in(browser, exchange, "treasury-c")
    first.get_by_role("link", name="Withdrawals").click()
    row = first.locator(f"#withdrawal-{withdrawal_id}")
    expect(row.get_by_test_id("approvals")).to_contain_text("0 of 2")
    row.get_by_role("button", name="Approve").click()
    row = first.locator(f"#withdrawal-{withdrawal_id}")
    expect(row.get_by_test_id("approvals")).to_contain_text("1 of 2")
    expect(row).to_contain_text("waiting for another admin")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)
    shot(first, "10-withdrawal-first-approval")

    second = sign_in(browser, exchange, "treasury-d")
    second.goto("/withdrawals")
    second.locator(f"#withdrawal-{withdrawal_id}").get_by_role("button", name="Approve").click()
    expect(second.locator(f"#withdrawal-{withdrawal_id}").get_by_test_id("withdrawal-state")).to_have_text(
        "approved"
    )
    shot(second, "11-withdrawal-approved")
    state = http.get(f"/api/v1/withdrawals/{withdrawal_id}", headers=headers).json()["state"]
    assert state == "approved"

    compliance.goto("/audit?action=withdrawal.*")
    expect(compliance.locator("main")).to_contain_text("intact")
    for action in ("withdrawal.request", "withdrawal.approve"):
        expect(compliance.get_by_role("cell", name=action, exact=True).first).to_be_visible()
    shot(compliance, "12-audit-log")
