"""The processor against a real local EVM (py-evm) with the hot key inside SoftHSM2: ETH and ERC-20
withdrawals are signed, broadcast, confirmed after N blocks and settled; failures release the hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from sqlalchemy import insert, update

from wcx.engine.state import FEE_ACCOUNT, OMNIBUS_ACCOUNT
from wcx.runtime import Runtime
from wcx.store.schema import users
from wcx.testing.softhsm import USER_PIN, SoftHsm
from wcx.wallet.signers import Pkcs11Signer, ethereum_address, generate_hot_key
from wcx.wallet.withdrawals import State, WithdrawalPolicy, WithdrawalRequest, approve, service
from wcx.wallet.withdrawals.processor import WithdrawalProcessor, reload
from wcx.wallet.withdrawals.tables import withdrawals
from wcx.wallet.withdrawals.wiring import build_processor

from .conftest import BOTH_DATABASES, CONFIRMATIONS, ETH, USDT, Chain

pytestmark = pytest.mark.anyio

TO = "0x52908400098527886E0F7030069857D2E4169EE7"


def processor(runtime: Runtime, policy: WithdrawalPolicy, chain: Chain) -> WithdrawalProcessor:
    """A processor paying from the chain fixture's hot wallet."""
    return WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": chain.wallet})


async def request(runtime: Runtime, policy: WithdrawalPolicy, user: int, asset: str, amount: str) -> str:
    """Request a withdrawal to TO; its id."""
    req = WithdrawalRequest(user_id=user, asset=asset, address=TO, amount=amount)
    return (await service.request_withdrawal(runtime.db, runtime, policy, req)).id


async def state_of(runtime: Runtime, withdrawal_id: str) -> State:
    """The persisted state."""
    w = await reload(runtime.db, withdrawal_id)
    assert w is not None
    return w.state


@BOTH_DATABASES
async def test_eth_withdrawal_is_signed_in_the_hsm_confirmed_and_settled(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    wid = await request(runtime, policy, alice, "ETH", "1.25")
    proc = processor(runtime, policy, chain)
    await proc.run_once()
    w = await reload(runtime.db, wid)
    assert w is not None and w.state is State.BROADCAST and w.nonce == 0 and w.tx_hash
    # The signature came from the HSM key: the raw transaction recovers to the hot wallet.
    assert Account.recover_transaction(bytes.fromhex(w.raw_tx or "")) == chain.wallet.address
    assert await chain.node.balance(TO, "ETH") == 125 * ETH // 100
    assert runtime.engine.state.balance(alice, "ETH") == (
        20 * ETH - 125 * ETH // 100 - 2 * ETH // 1000,
        1252 * ETH // 1000,
    )
    await chain.evm.mine(CONFIRMATIONS - 2)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.BROADCAST  # not yet: one block short
    await chain.evm.mine(1)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.SETTLED
    st = runtime.engine.state
    assert st.balance(alice, "ETH") == (20 * ETH - 1252 * ETH // 1000, 0)
    assert st.balance(FEE_ACCOUNT, "ETH")[0] == 2 * ETH // 1000
    assert st.balance(OMNIBUS_ACCOUNT, "ETH")[0] == -20 * ETH + 125 * ETH // 100
    assert await chain.node.nonce(chain.wallet.address) == 1


@BOTH_DATABASES
async def test_erc20_withdrawal_calls_transfer(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    wid = await request(runtime, policy, alice, "USDT", "1234.5")
    proc = processor(runtime, policy, chain)
    await proc.run_once()
    await chain.evm.mine(CONFIRMATIONS)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.SETTLED
    assert await chain.node.balance(TO, "USDT") == 1_234_500_000
    assert await chain.node.balance(chain.wallet.address, "USDT") == 100_000 * USDT - 1_234_500_000
    assert runtime.engine.state.balance(alice, "USDT") == (50_000 * USDT - 1_234_500_000 - 2 * USDT, 0)


async def test_consecutive_withdrawals_use_consecutive_nonces(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    ids = [
        await request(runtime, policy, alice, asset, amount)
        for asset, amount in (("ETH", "0.5"), ("USDT", "11"), ("ETH", "1"))
    ]
    await processor(runtime, policy, chain).run_once()
    nonces = [(await reload(runtime.db, wid)).nonce for wid in ids]  # type: ignore[union-attr]
    assert nonces == [0, 1, 2]
    assert await chain.node.nonce(chain.wallet.address) == 3


@BOTH_DATABASES
async def test_four_eyes_withdrawal_waits_for_the_second_admin(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    wid = await request(runtime, policy, alice, "ETH", "6")
    proc = processor(runtime, policy, chain)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.PENDING_APPROVAL
    await approve(runtime.db, wid, 7)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.PENDING_APPROVAL
    await approve(runtime.db, wid, 8)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.BROADCAST
    assert await chain.node.balance(TO, "ETH") == 6 * ETH


async def test_hot_wallet_short_waits_then_pays_once_topped_up(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int, softhsm: SoftHsm, token: str
) -> None:
    generate_hot_key(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="empty")
    signer = Pkcs11Signer(module=softhsm.module, token_label=token, pin=USER_PIN, key_label="empty")
    empty = replace(chain.wallet, signer=signer, address=ethereum_address(signer.public_key()))
    wid = await request(runtime, policy, alice, "USDT", "900")
    proc = WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": empty})
    await proc.run_once()
    w = await reload(runtime.db, wid)
    assert w is not None and (w.state, w.attempts) == (State.APPROVED, 1)
    assert "cannot cover" in w.last_error
    await chain.evm.send_token(empty.address, 900 * USDT)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.APPROVED  # the tokens are there, the gas is not
    await chain.evm.send_eth(empty.address, ETH // 10)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.BROADCAST
    assert await chain.node.balance(TO, "USDT") == 900 * USDT
    signer.close()


async def test_cancel_before_signing_releases_and_nothing_is_sent(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    wid = await request(runtime, policy, alice, "ETH", "1")
    released = await service.cancel_withdrawal(runtime.db, runtime, user_id=alice, withdrawal_id=wid)
    assert released.state is State.RELEASED
    await processor(runtime, policy, chain).run_once()
    assert await chain.node.nonce(chain.wallet.address) == 0
    assert runtime.engine.state.balance(alice, "ETH") == (20 * ETH, 0)


async def test_a_frozen_users_withdrawal_is_not_sent(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    wid = await request(runtime, policy, alice, "ETH", "1")
    async with runtime.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == alice).values(frozen=True))
    proc = processor(runtime, policy, chain)
    await proc.run_once()
    assert await state_of(runtime, wid) is State.APPROVED
    assert await chain.node.nonce(chain.wallet.address) == 0
    async with runtime.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == alice).values(frozen=False))
    await proc.run_once()
    assert await state_of(runtime, wid) is State.BROADCAST


async def test_one_broken_withdrawal_does_not_block_the_others(
    runtime: Runtime, policy: WithdrawalPolicy, chain: Chain, alice: int
) -> None:
    stuck = await request(runtime, policy, alice, "USDT", "100")
    paid = await request(runtime, policy, alice, "ETH", "1")
    # This process knows no USDT contract: the token withdrawal waits, the ETH one goes out.
    routes = {"ETH": chain.wallet.routes["ETH"]}
    await WithdrawalProcessor(
        runtime.db, runtime, policy, {"ethereum": replace(chain.wallet, routes=routes)}
    ).run_once()
    assert [await state_of(runtime, w) for w in (stuck, paid)] == [State.APPROVED, State.BROADCAST]
    # A node answering garbage fails one step, is recorded, and the round goes on.
    broken = replace(chain.wallet, node=BrokenNode())
    other = await request(runtime, policy, alice, "ETH", "2")
    await WithdrawalProcessor(runtime.db, runtime, policy, {"ethereum": broken}).run_once()
    w = await reload(runtime.db, other)
    assert w is not None and (w.state, w.attempts) == (State.APPROVED, 1) and "garbage" in w.last_error


class BrokenNode:
    """A node whose every answer is unusable in a way no adapter error class describes."""

    chain = "ethereum"

    def __getattr__(self, name: str) -> object:
        async def garbage(*_: object) -> object:
            raise ValueError("garbage from the node")

        return garbage


async def test_without_a_hot_wallet_it_still_holds_orphans_and_decides(
    runtime: Runtime, policy: WithdrawalPolicy, alice: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ETH_RPC_URL", "BTC_RPC_URL", "CHAINS_FILE"):
        monkeypatch.delenv(name, raising=False)
    proc = await build_processor(runtime.db, runtime, development=True)
    assert proc.wallets == {}
    # A crash between writing the request and holding it leaves a `requested` row and no hold.
    created = datetime.now(UTC) - timedelta(minutes=2)
    async with runtime.db.begin() as conn:
        await conn.execute(
            insert(withdrawals).values(
                id="wd_orphan",
                user_id=alice,
                asset="ETH",
                chain="ethereum",
                address=TO,
                memo="",
                amount=ETH,
                fee=2 * ETH // 1000,
                state="requested",
                reason="",
                approvals_required=2,
                confirmations=0,
                attempts=0,
                last_error="",
                created_at=created,
                updated_at=created,
            )
        )
    await proc.run_once()
    assert await state_of(runtime, "wd_orphan") is State.APPROVED  # held, then auto-approved; no chain here
    assert runtime.engine.state.balance(alice, "ETH") == (20 * ETH - 1002 * ETH // 1000, 1002 * ETH // 1000)
    await proc.run_once()  # a second round holds nothing twice
    assert runtime.engine.state.balance(alice, "ETH")[1] == 1002 * ETH // 1000
