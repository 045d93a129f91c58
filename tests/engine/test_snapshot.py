"""Snapshots and state hashes: restore gives the same state, and the same future."""

from __future__ import annotations

import pytest

from wcx.engine import (
    AdjustBalance,
    AmendOrder,
    CancelOrder,
    Command,
    CreditDeposit,
    Engine,
    Event,
    HoldWithdrawal,
    MarketStatus,
    PlaceOrder,
    Reject,
    ReleaseWithdrawal,
    SequenceError,
    SetFeeSchedule,
    SetMarketStatus,
    SettleWithdrawal,
    Side,
    SnapshotError,
)
from wcx.engine.events import CommandRejected, OrderCancelled, OrderFilled, OrderRejected

from .conftest import BTC_USDT, A, B, C, D, Exchange, btc, of, only, units, usdt

ODD_PRICE = "65000.01"


def busy(h: Exchange) -> None:
    """Leave every kind of state behind: books with queues, partial fills, refs, overrides, a withdrawal."""
    h.apply(SetFeeSchedule(5, 15, account=C))
    h.apply(CreditDeposit(B, "USDT", usdt("1"), "dep-1"))
    h.rest(A, Side.SELL, ODD_PRICE, "0.001", client_order_id="a-ask")
    h.rest(B, Side.SELL, ODD_PRICE, "0.0005")
    h.rest(C, Side.BUY, "64000", "0.002", client_order_id="c-bid")
    h.rest(D, Side.BUY, "64000", "0.001")
    h.fund(D, "USDT", usdt("100"))
    h.buy(D, ODD_PRICE, "0.0001")  # leaves A's ask partly filled, with a rounded-up fee so far
    h.apply(AmendOrder(C, client_order_id="c-bid", quantity=btc("0.0015")))
    eth = units("0.5", "ETH")
    h.fund(B, "ETH", eth)
    h.apply(PlaceOrder(B, "ETH-BTC", Side.SELL, price=btc("0.05"), quantity=eth))
    h.apply(HoldWithdrawal("w-1", D, "USDT", usdt("10"), usdt("1")))
    h.apply(AdjustBalance(B, "USDT", usdt("3"), "goodwill", "adj-1"))
    h.apply(SetMarketStatus("ETH-USDT", MarketStatus.CANCEL_ONLY))


def run(engine: Engine, first_seq: int, commands: list[Command]) -> list[list[Event]]:
    """Apply commands with consecutive seqs from `first_seq` (ts = seq × 1000)."""
    return [engine.apply(first_seq + i, (first_seq + i) * 1000, c) for i, c in enumerate(commands)]


CONTINUATION: list[Command] = [
    CreditDeposit(B, "USDT", usdt("100"), "dep-1"),
    PlaceOrder(A, BTC_USDT, Side.BUY, price=usdt("1"), quantity=btc("10"), client_order_id="a-ask"),
    CreditDeposit(C, "USDT", usdt("1000"), "more"),
    PlaceOrder(C, BTC_USDT, Side.BUY, price=usdt(ODD_PRICE), quantity=btc("0.0012")),
    CreditDeposit(B, "BTC", btc("0.0002"), "b-btc"),
    PlaceOrder(B, BTC_USDT, Side.SELL, price=usdt("64000"), quantity=btc("0.0002")),
    CancelOrder(C, client_order_id="c-bid"),
    SettleWithdrawal("w-1"),
    SetMarketStatus("ETH-USDT", MarketStatus.TRADING),
    CreditDeposit(A, "BTC", btc("1"), "late"),
    PlaceOrder(A, "ETH-BTC", Side.BUY, price=btc("0.05"), quantity=units("0.2", "ETH")),
]


def test_restore_reproduces_the_state_hash_and_the_bytes(h: Exchange) -> None:
    busy(h)
    data = h.engine.snapshot()
    restored = Engine.restore(data)
    assert restored.state_hash() == h.engine.state_hash()
    assert restored.snapshot() == data
    assert restored.state.last_seq == h.seq


def test_replaying_the_log_reproduces_the_state_hash(h: Exchange) -> None:
    busy(h)
    assert h.replay().state_hash() == h.engine.state_hash()


def test_restored_engine_behaves_identically_on_further_commands(h: Exchange) -> None:
    busy(h)
    restored = Engine.restore(h.engine.snapshot())
    original = run(h.engine, h.seq + 1, CONTINUATION)
    again = run(restored, h.seq + 1, CONTINUATION)
    assert again == original
    assert restored.state_hash() == h.engine.state_hash()
    # Make sure the continuation really exercised the restored books, refs, ids and fee totals.
    assert only(original[0], CommandRejected).code is Reject.DUPLICATE_REFERENCE
    assert only(original[1], OrderRejected).code is Reject.DUPLICATE_CLIENT_ORDER_ID
    fills = of(original[3], OrderFilled)
    assert [(f.maker_account, f.quantity) for f in fills] == [(A, btc("0.0009")), (B, btc("0.0003"))]
    # A's ask paid ceil(6.500001 USDT × 10 bps) = 6501 on its first lot; its running total now reaches
    # ceil(65.00001 × 10 bps) = 65001 for all ten lots, so these nine lots pay 58500, not 9 × 6501.
    assert fills[0].maker_fee == 58500
    bid_fill = only(original[5], OrderFilled)
    # C's bid kept its priority over D's and its 5 bps maker override: 12.8 USDT × 5 bps.
    assert (bid_fill.maker_account, bid_fill.maker_fee) == (C, 6400)
    assert only(original[6], OrderCancelled).remaining == btc("0.0013")
    assert only(original[10], OrderFilled).maker_account == B


@pytest.mark.parametrize("zero_balance_case", ["amend", "withdrawal_release"])
def test_a_restored_engine_handles_balances_that_are_exactly_zero(
    h: Exchange, zero_balance_case: str
) -> None:
    # Snapshots leave out zero balances; the live engine may still carry a 0 entry for the asset.
    if zero_balance_case == "amend":
        order_id = h.rest(A, Side.SELL, "65000", "0.001")  # all of A's BTC is now held
        command: Command = AmendOrder(A, order_id=order_id, price=usdt("64000"))
    else:
        h.fund(A, "BTC", btc("0.5"))
        h.apply(HoldWithdrawal("w-zero", A, "BTC", btc("0.5")))  # all of A's BTC is now held
        command = ReleaseWithdrawal("w-zero")
    assert h.balance(A, "BTC")[0] == 0
    restored = Engine.restore(h.engine.snapshot())
    seq = h.seq + 1
    assert restored.apply(seq, seq * 1000, command) == h.apply(command)  # the harness uses ts = seq × 1000
    assert restored.state_hash() == h.engine.state_hash()


def test_restored_engine_keeps_the_sequence(h: Exchange) -> None:
    busy(h)
    restored = Engine.restore(h.engine.snapshot())
    with pytest.raises(SequenceError):
        restored.apply(h.seq, 0, CreditDeposit(A, "BTC", 1, "too-late"))
    assert restored.state_hash() == h.engine.state_hash()


def test_sequence_numbers_must_increase(h: Exchange) -> None:
    before = h.engine.state_hash()
    for seq in (h.seq, h.seq - 1):
        with pytest.raises(SequenceError):
            h.engine.apply(seq, 0, CreditDeposit(A, "BTC", 1, f"dup-{seq}"))
    assert h.engine.state_hash() == before
    # Gaps are allowed: the sequencer, not the engine, owns numbering.
    assert h.engine.apply(h.seq + 10, 0, CreditDeposit(A, "BTC", 1, "gap"))
    assert h.engine.state.last_seq == h.seq + 10


def test_state_hash_sees_balances_and_queue_order() -> None:
    first, second = Exchange(), Exchange()
    assert first.engine.state_hash() == second.engine.state_hash()
    first.rest(B, Side.SELL, "100", "1")
    first.rest(C, Side.SELL, "100", "1")
    second.rest(C, Side.SELL, "100", "1")
    second.rest(B, Side.SELL, "100", "1")
    # Same balances and the same level, but a different time priority.
    assert first.engine.state_hash() != second.engine.state_hash()
    before = first.engine.state_hash()
    first.fund(A, "USDT", 1)
    assert first.engine.state_hash() != before


@pytest.mark.parametrize("data", [b"", b"not a snapshot", b"\x00\x01\x02"])
def test_restore_rejects_garbage(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        Engine.restore(data)


def test_restore_rejects_a_truncated_snapshot(h: Exchange) -> None:
    busy(h)
    data = h.engine.snapshot()
    with pytest.raises(SnapshotError):
        Engine.restore(data[: len(data) // 2])
