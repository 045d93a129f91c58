"""Hot-to-cold transfers from the back office, end to end on a local EVM (py-evm) with the hot key in
SoftHSM2: one treasurer's request sends nothing, the requester cannot approve it, a second treasurer's
approval has the wallet sign it in the HSM and send it to the configured cold address, where it is
mined and confirmed; no API call can choose another destination; every step is in the audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select, update

from wcx.admin.permissions import Role
from wcx.admin.tables import admin_approvals
from wcx.api.withdrawals import policy_of, set_policy
from wcx.runtime import Runtime
from wcx.store.audit import verify_audit
from wcx.store.schema import audit_events
from wcx.testing.evm import LocalEvm, in_process_rpc
from wcx.wallet.chains.ethereum import EthereumNode
from wcx.wallet.signers import Pkcs11Signer, ethereum_address
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute, WithdrawalProcessor

from .conftest import API, AdminFactory, both_databases, error_code, ok

pytestmark = pytest.mark.anyio

ETH = 10**18
CONFIRMATIONS = 3
COLD = "0x5AEDA56215b167893e80B4fE645BA6d5Bab767DE"  # config/withdrawals.toml
ELSEWHERE = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every test here runs on SQLite and on PostgreSQL."""
    return both_databases(request)


@pytest.fixture
async def evm() -> AsyncIterator[LocalEvm]:
    """An in-process EVM."""
    local = await LocalEvm(in_process_rpc()).start(deploy_token=False)
    yield local


@pytest.fixture
async def processor(
    runtime: Runtime, evm: LocalEvm, hsm_signer: Pkcs11Signer
) -> AsyncIterator[WithdrawalProcessor]:
    """The wallet's processor over a 50 ETH hot wallet (key in SoftHSM2) whose ETH band is 10..40."""
    policy = policy_of(runtime)
    set_policy(
        runtime,
        replace(
            policy,
            assets={
                **policy.assets,
                "ETH": replace(policy.assets["ETH"], hot_minimum=10 * ETH, hot_maximum=40 * ETH),
            },
        ),
    )
    node = EthereumNode(evm.rpc)
    address = ethereum_address(hsm_signer.public_key())
    wallet = HotWallet(
        "ethereum",
        node,
        hsm_signer,
        address,
        await node.chain_id(),
        "ETH",
        {"ETH": TokenRoute("", CONFIRMATIONS)},
    )
    await evm.send_eth(address, 50 * ETH)
    yield WithdrawalProcessor(runtime.db, runtime, policy_of(runtime), {"ethereum": wallet})
    await node.close()


async def proposal(processor: WithdrawalProcessor) -> int:
    """The id of the hot-to-cold proposal the policy records for ETH."""
    (found,) = [r for r in await processor.check_hot_wallets() if r.asset == "ETH"]
    return found.id


async def record(
    admin_http: httpx.AsyncClient, headers: dict[str, str], rebalance_id: int
) -> dict[str, object]:
    """The record as the admin API lists it."""
    listed = ok(await admin_http.get(f"{API}/hot-wallet/rebalances", headers=headers))
    (found,) = [r for r in listed if r["id"] == rebalance_id]
    return found  # type: ignore[no-any-return]


async def test_two_treasurers_send_a_proposal_to_cold_storage(
    runtime: Runtime,
    admin_http: httpx.AsyncClient,
    make_admin: AdminFactory,
    processor: WithdrawalProcessor,
    evm: LocalEvm,
) -> None:
    node = processor.wallets["ethereum"].node
    hot = processor.wallets["ethereum"].address
    rebalance_id = await proposal(processor)
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.TREASURY)
    support, operator = await make_admin(Role.SUPPORT), await make_admin(Role.OPERATOR)
    listed = await record(admin_http, first.headers, rebalance_id)
    assert (listed["direction"], listed["amount"], listed["state"], listed["cold_address"]) == (
        "hot_to_cold",
        "25.000000000000000000",
        "open",
        COLD,
    )
    refused = await admin_http.post(
        f"{API}/hot-wallet/rebalances/{rebalance_id}/send", headers=support.headers
    )
    assert (refused.status_code, error_code(refused)) == (403, "FORBIDDEN")
    request = ok(
        await admin_http.post(f"{API}/hot-wallet/rebalances/{rebalance_id}/send", headers=first.headers), 202
    )
    assert request["status"] == "pending" and request["payload"] == {"rebalance_id": rebalance_id}
    assert COLD in request["summary"]
    # One treasurer is not enough: nothing is sent.
    await processor.run_once()
    assert (await record(admin_http, first.headers, rebalance_id))["state"] == "open"
    assert await node.nonce(hot) == 0
    # The same admin cannot be the second pair of eyes; an operator lacks the permission.
    mine = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=first.headers)
    assert (mine.status_code, error_code(mine)) == (403, "SELF_APPROVAL")
    wrong_role = await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=operator.headers)
    assert wrong_role.status_code == 403
    approved = ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    assert approved["status"] == "approved" and approved["result"]["to"] == COLD
    assert (await record(admin_http, first.headers, rebalance_id))["state"] == "approved"
    # The wallet signs in the HSM, sends, and counts confirmations.
    await processor.run_once()
    sent = await record(admin_http, first.headers, rebalance_id)
    assert sent["state"] == "broadcast" and sent["transfer"]["from_address"] == hot  # type: ignore[index]
    await evm.mine(CONFIRMATIONS)
    await processor.run_once()
    done = await record(admin_http, first.headers, rebalance_id)
    assert done["state"] == "confirmed" and done["transfer"]["confirmations"] >= CONFIRMATIONS  # type: ignore[index]
    assert await node.balance(COLD, "ETH") == 25 * ETH
    assert await node.nonce(hot) == 1
    again = await admin_http.post(f"{API}/hot-wallet/rebalances/{rebalance_id}/send", headers=first.headers)
    assert (again.status_code, error_code(again)) == (409, "NOT_PROPOSED")
    # Every step is in the audit chain, and the chain verifies.
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.actor, audit_events.c.action, audit_events.c.target).order_by(
                audit_events.c.id
            )
        )
        trail = [
            (row.actor, row.action)
            for row in rows
            if row.target in {f"approval:{request['id']}", f"transfer:{rebalance_id}"}
        ]
        verdict = await verify_audit(conn)
    assert trail == [
        (f"admin:{first.admin_id}", "approval.request"),
        (f"admin:{second.admin_id}", "approval.approve"),
        (f"admin:{second.admin_id}", "hotcold.send"),
        (f"admin:{second.admin_id}", "approval.executed"),
        ("system:wallet", "transfer.signed"),
        ("system:wallet", "transfer.broadcast"),
        ("system:wallet", "transfer.confirmed"),
    ]
    assert verdict.ok


async def test_no_api_call_can_send_elsewhere_than_the_cold_address(
    runtime: Runtime,
    admin_http: httpx.AsyncClient,
    make_admin: AdminFactory,
    processor: WithdrawalProcessor,
    evm: LocalEvm,
) -> None:
    rebalance_id = await proposal(processor)
    first, second = await make_admin(Role.TREASURY), await make_admin(Role.TREASURY)
    send = f"{API}/hot-wallet/rebalances/{rebalance_id}/send"
    for body in ({"address": ELSEWHERE}, {"to": ELSEWHERE, "amount": "1"}):
        refused = await admin_http.post(send, headers=first.headers, json=body)
        assert (refused.status_code, error_code(refused)) == (422, "INVALID_REQUEST")
    assert ok(await admin_http.get(f"{API}/approvals", headers=first.headers)) == []
    # Even a payload altered behind the API's back names no destination the executor would read.
    request = ok(await admin_http.post(send, headers=first.headers), 202)
    async with runtime.db.begin() as conn:
        await conn.execute(
            update(admin_approvals)
            .where(admin_approvals.c.id == request["id"])
            .values(payload={"rebalance_id": rebalance_id, "address": ELSEWHERE})
        )
    ok(await admin_http.post(f"{API}/approvals/{request['id']}/approve", headers=second.headers))
    await processor.run_once()
    await evm.mine(CONFIRMATIONS)
    await processor.run_once()
    node = processor.wallets["ethereum"].node
    assert (await record(admin_http, first.headers, rebalance_id))["state"] == "confirmed"
    assert await node.balance(COLD, "ETH") == 25 * ETH
    assert await node.balance(ELSEWHERE, "ETH") == 0
    # The dashboard shows the record with its state.
    page = await admin_http.get("/hot-wallet", headers=first.headers)
    assert page.status_code == 200 and f"rebalance-{rebalance_id}" in page.text and "confirmed" in page.text
