"""KYC limits on the real withdrawal endpoint: tier 0 cannot withdraw, tier 1 stops at 2 000 USDT a day
(fee included), an upgrade to tier 2 applies to the next request; refusals leave no hold behind."""

from __future__ import annotations

from datetime import date

import pytest
from api.conftest import anyio_backend as anyio_backend  # noqa: PLC0414 - fixtures
from api.conftest import runtime as runtime  # noqa: PLC0414
from api.test_withdrawals import Client, code_of, user
from api.test_withdrawals import clients as clients  # noqa: PLC0414
from api.test_withdrawals import clocked as clocked  # noqa: PLC0414

from wcx.kyc import Decision, PersonalData
from wcx.runtime import Runtime
from wcx.testing.kyc import sample_jpeg, sample_pdf

pytestmark = pytest.mark.anyio

DATA = PersonalData(full_name="Alice Example", date_of_birth=date(1990, 4, 1), country="DE", address="Berlin")


async def grant(runtime: Runtime, user_id: int, tier: int) -> None:
    """Apply for `tier` and have a reviewer approve it (the service calls the admin API makes)."""
    kyc = runtime.kyc
    async with runtime.db.begin() as conn:
        draft = await kyc.create_submission(conn, user_id, tier, DATA)
        if tier >= 2:
            await kyc.add_document(conn, user_id, draft.id, "id_document", "id.pdf", sample_pdf())
            await kyc.add_document(conn, user_id, draft.id, "selfie", "me.jpg", sample_jpeg())
        await kyc.submit(conn, user_id, draft.id)
        await kyc.decide(conn, draft.id, Decision.APPROVE, reviewer="admin:1")


async def test_withdrawals_follow_the_kyc_tier(
    clocked: tuple[Runtime, object], clients: dict[str, object]
) -> None:
    runtime = clocked[0]
    runtime.kyc.default_tier = 0
    alice: Client = await user(clients, clocked[1], "alice@example.com")  # type: ignore[arg-type]

    assert code_of(await alice.withdraw(asset="USDT", amount="100")) == (403, "KYC_WITHDRAWALS_NOT_ALLOWED")
    assert await alice.balance("USDT") == ("1000000.000000", "0.000000")

    await grant(runtime, alice.user_id, 1)
    first = await alice.withdraw(asset="USDT", amount="1500")  # + 2 USDT fee
    assert first.status_code == 201, first.text
    assert code_of(await alice.withdraw(asset="USDT", amount="600")) == (403, "KYC_WITHDRAWAL_DAILY_LIMIT")
    second = await alice.withdraw(asset="USDT", amount="400")
    assert second.status_code == 201, second.text
    assert await alice.balance("USDT") == ("998096.000000", "1904.000000")
    # ETH has neither a trade nor a book yet: it cannot be valued, so it is not let through.
    assert code_of(await alice.withdraw(asset="ETH", amount="1")) == (403, "KYC_PRICE_UNAVAILABLE")

    await grant(runtime, alice.user_id, 2)
    upgraded = await alice.withdraw(asset="USDT", amount="5000")
    assert upgraded.status_code == 201, upgraded.text
    status = (await alice.get("/kyc")).json()
    assert (status["tier"], status["withdrawn_24h"]) == (2, "6906.000000")
