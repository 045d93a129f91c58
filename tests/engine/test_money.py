"""Deposits, withdrawals and admin adjustments: double entries, idempotency and validation."""

from __future__ import annotations

import pytest

from wcx.engine import (
    AdjustBalance,
    Command,
    CreditDeposit,
    HoldWithdrawal,
    PlaceOrder,
    Reject,
    ReleaseWithdrawal,
    SettleWithdrawal,
    Side,
)
from wcx.engine.events import (
    BalanceAdjusted,
    CommandRejected,
    DepositCredited,
    WithdrawalHeld,
    WithdrawalReleased,
    WithdrawalSettled,
)
from wcx.engine.money import MAX_REFERENCE
from wcx.engine.state import ADJUSTMENT_ACCOUNT, FEE_ACCOUNT, OMNIBUS_ACCOUNT

from .conftest import BTC_USDT, A, B, Exchange, btc, usdt


def test_deposit_moves_funds_from_the_omnibus_account(h: Exchange) -> None:
    events = h.apply(CreditDeposit(A, "BTC", btc("1.5"), "tx-1"))
    assert events == [DepositCredited(h.seq, h.seq * 1000, A, "BTC", btc("1.5"), "tx-1")]
    assert h.balance(A, "BTC") == (btc("1.5"), 0)
    assert h.balance(OMNIBUS_ACCOUNT, "BTC") == (-btc("1.5"), 0)
    assert h.total("BTC") == 0


def test_deposit_is_credited_once_per_reference(h: Exchange) -> None:
    h.apply(CreditDeposit(A, "BTC", btc("1"), "tx-1"))
    events = h.apply_unchanged(CreditDeposit(A, "BTC", btc("1"), "tx-1"))
    assert events == [CommandRejected(h.seq, h.seq * 1000, Reject.DUPLICATE_REFERENCE, "deposit")]
    # The reference is global: another account, asset or amount does not make it new.
    assert h.reject(CreditDeposit(B, "USDT", usdt("5"), "tx-1")) is Reject.DUPLICATE_REFERENCE
    assert h.balance(A, "BTC") == (btc("1"), 0)


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (CreditDeposit(A, "BTC", 0, "r"), Reject.INVALID_AMOUNT),
        (CreditDeposit(A, "BTC", -1, "r"), Reject.INVALID_AMOUNT),
        (CreditDeposit(0, "BTC", 1, "r"), Reject.INVALID_ACCOUNT),
        (CreditDeposit(FEE_ACCOUNT, "BTC", 1, "r"), Reject.INVALID_ACCOUNT),
        (CreditDeposit(A, "DOGE", 1, "r"), Reject.UNKNOWN_ASSET),
        (CreditDeposit(A, "BTC", 1, ""), Reject.INVALID_REFERENCE),
        (CreditDeposit(A, "BTC", 1, "r" * (MAX_REFERENCE + 1)), Reject.INVALID_REFERENCE),
    ],
)
def test_invalid_deposits_are_rejected_without_any_effect(
    h: Exchange, command: CreditDeposit, code: Reject
) -> None:
    assert h.reject(command) is code


def test_longest_reference_is_accepted(h: Exchange) -> None:
    reference = "r" * MAX_REFERENCE
    assert h.apply(CreditDeposit(A, "BTC", 1, reference))[0] == DepositCredited(
        h.seq, h.seq * 1000, A, "BTC", 1, reference
    )


def test_withdrawal_hold_moves_amount_and_fee_to_held(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    events = h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.5"), btc("0.0005")))
    assert events == [WithdrawalHeld(h.seq, h.seq * 1000, "w-1", A, "BTC", btc("0.5"), btc("0.0005"))]
    assert h.balance(A, "BTC") == (btc("0.4995"), btc("0.5005"))


def test_settled_withdrawal_pays_the_omnibus_and_the_fee_account(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.5"), btc("0.0005")))
    events = h.apply(SettleWithdrawal("w-1"))
    assert events == [WithdrawalSettled(h.seq, h.seq * 1000, "w-1", A, "BTC", btc("0.5"), btc("0.0005"))]
    assert h.balance(A, "BTC") == (btc("0.4995"), 0)
    assert h.balance(OMNIBUS_ACCOUNT, "BTC") == (-btc("0.5"), 0)
    assert h.balance(FEE_ACCOUNT, "BTC") == (btc("0.0005"), 0)
    assert h.total("BTC") == 0


def test_released_withdrawal_gives_everything_back(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.5"), btc("0.0005")))
    events = h.apply(ReleaseWithdrawal("w-1"))
    assert events == [WithdrawalReleased(h.seq, h.seq * 1000, "w-1", A, "BTC", btc("0.5"), btc("0.0005"))]
    assert h.balance(A, "BTC") == (btc("1"), 0)
    assert h.balance(FEE_ACCOUNT, "BTC") == (0, 0)
    assert h.balance(OMNIBUS_ACCOUNT, "BTC") == (-btc("1"), 0)


def test_withdrawal_without_a_fee(h: Exchange) -> None:
    h.fund(A, "USDT", usdt("10"))
    h.apply(HoldWithdrawal("w-1", A, "USDT", usdt("10")))
    assert h.balance(A, "USDT") == (0, usdt("10"))
    h.apply(SettleWithdrawal("w-1"))
    assert h.balance(A, "USDT") == (0, 0)
    assert h.balance(OMNIBUS_ACCOUNT, "USDT") == (0, 0)


def test_withdrawal_needs_amount_plus_fee_available(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    command = HoldWithdrawal("w-1", A, "BTC", btc("1"), 1)
    assert h.reject(command) is Reject.INSUFFICIENT_FUNDS
    assert h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.99999999"), 1))[0] == WithdrawalHeld(
        h.seq, h.seq * 1000, "w-1", A, "BTC", btc("0.99999999"), 1
    )


def test_funds_held_by_an_order_cannot_be_withdrawn(h: Exchange) -> None:
    h.rest(A, Side.SELL, "100", "1")
    assert h.reject(HoldWithdrawal("w-1", A, "BTC", 1)) is Reject.INSUFFICIENT_FUNDS


def test_funds_held_for_a_withdrawal_cannot_back_an_order(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.5")))
    command = PlaceOrder(A, BTC_USDT, Side.SELL, price=usdt("100"), quantity=btc("0.5001"))
    assert h.reject(command) is Reject.INSUFFICIENT_FUNDS


@pytest.mark.parametrize("close", [SettleWithdrawal, ReleaseWithdrawal])
def test_closing_an_unknown_withdrawal_is_rejected(
    h: Exchange, close: type[SettleWithdrawal] | type[ReleaseWithdrawal]
) -> None:
    assert h.reject(close("nope")) is Reject.UNKNOWN_WITHDRAWAL


@pytest.mark.parametrize("first", [SettleWithdrawal, ReleaseWithdrawal])
@pytest.mark.parametrize("second", [SettleWithdrawal, ReleaseWithdrawal])
def test_a_withdrawal_closes_once(
    h: Exchange,
    first: type[SettleWithdrawal] | type[ReleaseWithdrawal],
    second: type[SettleWithdrawal] | type[ReleaseWithdrawal],
) -> None:
    h.fund(A, "BTC", btc("1"))
    h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.5"), btc("0.0005")))
    h.apply(first("w-1"))
    assert h.reject(second("w-1")) is Reject.UNKNOWN_WITHDRAWAL


def test_withdrawal_id_is_never_reused(h: Exchange) -> None:
    h.fund(A, "BTC", btc("1"))
    h.apply(HoldWithdrawal("w-1", A, "BTC", btc("0.1")))
    assert h.reject(HoldWithdrawal("w-1", A, "BTC", btc("0.1"))) is Reject.DUPLICATE_REFERENCE
    h.apply(ReleaseWithdrawal("w-1"))
    assert h.reject(HoldWithdrawal("w-1", A, "BTC", btc("0.1"))) is Reject.DUPLICATE_REFERENCE


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (HoldWithdrawal("w", A, "BTC", 0), Reject.INVALID_AMOUNT),
        (HoldWithdrawal("w", A, "BTC", 1, -1), Reject.INVALID_AMOUNT),
        (HoldWithdrawal("w", 0, "BTC", 1), Reject.INVALID_ACCOUNT),
        (HoldWithdrawal("w", A, "DOGE", 1), Reject.UNKNOWN_ASSET),
        (HoldWithdrawal("", A, "BTC", 1), Reject.INVALID_REFERENCE),
    ],
)
def test_invalid_withdrawals_are_rejected_without_any_effect(
    h: Exchange, command: HoldWithdrawal, code: Reject
) -> None:
    h.fund(A, "BTC", btc("1"))
    assert h.reject(command) is code


def test_adjustment_credits_and_debits_against_the_adjustment_account(h: Exchange) -> None:
    events = h.apply(AdjustBalance(A, "USDT", usdt("25"), "goodwill", "adj-1"))
    assert events == [BalanceAdjusted(h.seq, h.seq * 1000, A, "USDT", usdt("25"), "goodwill", "adj-1")]
    h.apply(AdjustBalance(A, "USDT", -usdt("10"), "correction", "adj-2"))
    assert h.balance(A, "USDT") == (usdt("15"), 0)
    assert h.balance(ADJUSTMENT_ACCOUNT, "USDT") == (-usdt("15"), 0)
    assert h.total("USDT") == 0


def test_adjustment_is_applied_once_per_reference(h: Exchange) -> None:
    h.apply(AdjustBalance(A, "USDT", usdt("25"), "goodwill", "adj-1"))
    assert h.reject(AdjustBalance(A, "USDT", usdt("25"), "goodwill", "adj-1")) is Reject.DUPLICATE_REFERENCE
    assert h.reject(AdjustBalance(B, "BTC", 1, "other", "adj-1")) is Reject.DUPLICATE_REFERENCE
    assert h.balance(A, "USDT") == (usdt("25"), 0)


def test_adjustment_cannot_take_available_below_zero(h: Exchange) -> None:
    h.rest(A, Side.BUY, "100", "1")
    h.fund(A, "USDT", usdt("5"))
    # 100.2 USDT is held by the order; only the 5 available can be debited.
    assert h.reject(AdjustBalance(A, "USDT", -usdt("5.000001"), "fix", "adj-1")) is Reject.INSUFFICIENT_FUNDS
    h.apply(AdjustBalance(A, "USDT", -usdt("5"), "fix", "adj-1"))
    assert h.balance(A, "USDT") == (0, usdt("100.2"))


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (AdjustBalance(A, "USDT", 0, "nothing", "a"), Reject.INVALID_AMOUNT),
        (AdjustBalance(A, "USDT", 1, "", "a"), Reject.INVALID_AMOUNT),
        (AdjustBalance(A, "USDT", 1, "why", ""), Reject.INVALID_REFERENCE),
        (AdjustBalance(0, "USDT", 1, "why", "a"), Reject.INVALID_ACCOUNT),
        (AdjustBalance(ADJUSTMENT_ACCOUNT, "USDT", 1, "why", "a"), Reject.INVALID_ACCOUNT),
        (AdjustBalance(A, "DOGE", 1, "why", "a"), Reject.UNKNOWN_ASSET),
    ],
)
def test_invalid_adjustments_are_rejected_without_any_effect(
    h: Exchange, command: Command, code: Reject
) -> None:
    assert h.reject(command) is code
