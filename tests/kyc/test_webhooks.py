"""The webhook provider through the API: cases go out signed, verdicts come back signed; forged,
stale and replayed callbacks are refused and change nothing."""

from __future__ import annotations

import time

import httpx
import pytest
from api.conftest import User, sign_up
from api.conftest import anyio_backend as anyio_backend  # noqa: PLC0414 - fixtures
from api.conftest import client as client  # noqa: PLC0414
from api.conftest import runtime as runtime  # noqa: PLC0414
from sqlalchemy import select

from wcx.runtime import Runtime
from wcx.store.schema import audit_events
from wcx.testing.kyc import FakeKycVendor, sample_pdf, sample_png

pytestmark = pytest.mark.anyio

DATA = {"full_name": "Alice Example", "date_of_birth": "1990-04-01", "country": "DE", "address": "Berlin"}


@pytest.fixture
def vendor(runtime: Runtime) -> FakeKycVendor:
    """A fake vendor wired in as the runtime's provider; new users start at tier 0."""
    fake = FakeKycVendor()
    runtime.kyc.provider = fake.provider(window_s=300)
    runtime.kyc.default_tier = 0
    return fake


async def _submit(client: httpx.AsyncClient, user: User) -> int:
    created = await client.post(
        "/api/v1/kyc/submissions", json={"requested_tier": 2, "personal_data": DATA}, headers=user.headers
    )
    submission_id = int(created.json()["id"])
    for kind, name, data in (("id_document", "id.pdf", sample_pdf()), ("selfie", "me.png", sample_png())):
        uploaded = await client.post(
            f"/api/v1/kyc/submissions/{submission_id}/documents",
            data={"kind": kind},
            files={"file": (name, data)},
            headers=user.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
    submitted = await client.post(f"/api/v1/kyc/submissions/{submission_id}/submit", headers=user.headers)
    assert submitted.status_code == 200, submitted.text
    return submission_id


async def _post(
    client: httpx.AsyncClient, vendor: FakeKycVendor, headers: dict[str, str], body: bytes
) -> httpx.Response:
    return await client.post(f"/api/v1/kyc/webhooks/{vendor.name}", content=body, headers=headers)


async def _tier(client: httpx.AsyncClient, user: User) -> int:
    return int((await client.get("/api/v1/kyc", headers=user.headers)).json()["tier"])


async def test_vendor_verdicts_apply_once_and_forgeries_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, vendor: FakeKycVendor
) -> None:
    alice = await sign_up(client, "alice@example.com")
    submission_id = await _submit(client, alice)
    # The case reached the vendor with its data and decrypted documents, signed.
    [(reference, case)] = vendor.cases.items()
    assert (
        case["external_id"] == f"wcx-{submission_id}"
        and case["personal_data"]["full_name"] == "Alice Example"
    )
    assert [d["kind"] for d in case["documents"]] == ["id_document", "selfie"]

    forged = vendor.callback(reference, "approved", secret=b"not the shared secret" * 2)
    stale = vendor.callback(reference, "approved", timestamp=int(time.time()) - 301)
    future = vendor.callback(reference, "approved", timestamp=int(time.time()) + 301)
    headers, body = vendor.callback(reference, "approved")
    tampered = body.replace(b'"approved"', b'"rejected"')
    for attempt, status, code in (
        (forged, 401, "KYC_WEBHOOK_SIGNATURE_INVALID"),
        ((headers, tampered), 401, "KYC_WEBHOOK_SIGNATURE_INVALID"),
        (({"Content-Type": "application/json"}, body), 401, "KYC_WEBHOOK_SIGNATURE_INVALID"),
        (stale, 401, "KYC_WEBHOOK_STALE"),
        (future, 401, "KYC_WEBHOOK_STALE"),
    ):
        answer = await _post(client, vendor, *attempt)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    assert await _tier(client, alice) == 0
    unknown = await client.post("/api/v1/kyc/webhooks/othervendor", content=body, headers=headers)
    assert unknown.status_code == 404

    accepted = await _post(client, vendor, headers, body)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"submission_id": submission_id, "status": "approved"}
    assert await _tier(client, alice) == 2
    replayed = await _post(client, vendor, headers, body)
    assert (replayed.status_code, replayed.json()["error"]["code"]) == (409, "KYC_WEBHOOK_REPLAYED")
    # A later, validly signed event for a decided case is refused by the status machine.
    late = await _post(client, vendor, *vendor.callback(reference, "rejected", "changed its mind"))
    assert (late.status_code, late.json()["error"]["code"]) == (409, "KYC_ILLEGAL_TRANSITION")
    async with runtime.db.connect() as conn:
        case_view = await runtime.kyc.get_case(conn, submission_id)
    assert case_view.status.value == "approved" and case_view.reviewer == "provider:fakevendor"
    assert case_view.provider == "fakevendor" and case_view.provider_reference == reference
    async with runtime.db.connect() as conn:
        audit = (
            await conn.execute(
                select(audit_events.c.actor, audit_events.c.target).where(
                    audit_events.c.action == "kyc.decision"
                )
            )
        ).all()
    assert audit == [("provider:fakevendor", f"user:{alice.user_id}")]


async def test_a_vendor_outage_leaves_the_case_in_the_manual_queue(
    client: httpx.AsyncClient, runtime: Runtime, vendor: FakeKycVendor
) -> None:
    bob = await sign_up(client, "bob@example.com")
    vendor.refuse_next = True
    submission_id = await _submit(client, bob)
    assert vendor.cases == {}
    async with runtime.db.connect() as conn:
        queue = await runtime.kyc.list_queue(conn)
        case = await runtime.kyc.get_case(conn, submission_id)
    assert [q.submission_id for q in queue] == [submission_id]
    assert (case.status.value, case.provider, case.provider_reference) == ("submitted", "manual", None)
