"""Money moving in and out: deposits, withdrawals and admin adjustments, each a double entry."""

from __future__ import annotations

from wcx.engine.codes import Reject
from wcx.engine.commands import (
    AdjustBalance,
    CreditDeposit,
    HoldWithdrawal,
    ReleaseWithdrawal,
    SettleWithdrawal,
)
from wcx.engine.events import (
    BalanceAdjusted,
    CommandRejected,
    DepositCredited,
    Event,
    WithdrawalHeld,
    WithdrawalReleased,
    WithdrawalSettled,
)
from wcx.engine.state import ADJUSTMENT_ACCOUNT, FEE_ACCOUNT, OMNIBUS_ACCOUNT, EngineState, Withdrawal

MAX_REFERENCE = 128


def _move(st: EngineState, source: int, target: int, asset: str, amount: int) -> None:
    """Debit `source`, credit `target`: the one way available balances change hands here."""
    st.account(source).balance(asset).available -= amount
    st.account(target).balance(asset).available += amount


def _reference_error(st: EngineState, account: int, asset: str, reference: str) -> Reject | None:
    if account <= 0:
        return Reject.INVALID_ACCOUNT
    if asset not in st.assets:
        return Reject.UNKNOWN_ASSET
    if not reference or len(reference) > MAX_REFERENCE:
        return Reject.INVALID_REFERENCE
    return None


def credit_deposit(st: EngineState, seq: int, ts: int, cmd: CreditDeposit, out: list[Event]) -> None:
    """Credit a confirmed deposit once per external reference."""
    code = _reference_error(st, cmd.account, cmd.asset, cmd.reference)
    if code is None and cmd.amount <= 0:
        code = Reject.INVALID_AMOUNT
    if code is None and cmd.reference in st.deposit_refs:
        code = Reject.DUPLICATE_REFERENCE
    if code is not None:
        out.append(CommandRejected(seq, ts, code, "deposit"))
        return
    st.deposit_refs.add(cmd.reference)
    _move(st, OMNIBUS_ACCOUNT, cmd.account, cmd.asset, cmd.amount)
    out.append(DepositCredited(seq, ts, cmd.account, cmd.asset, cmd.amount, cmd.reference))


def hold_withdrawal(st: EngineState, seq: int, ts: int, cmd: HoldWithdrawal, out: list[Event]) -> None:
    """Hold amount + fee for a withdrawal, once per withdrawal id."""
    code = _reference_error(st, cmd.account, cmd.asset, cmd.withdrawal_id)
    if code is None and (cmd.amount <= 0 or cmd.fee < 0):
        code = Reject.INVALID_AMOUNT
    if code is None and cmd.withdrawal_id in st.withdrawal_ids:
        code = Reject.DUPLICATE_REFERENCE
    total = cmd.amount + cmd.fee
    if code is None and st.balance(cmd.account, cmd.asset)[0] < total:
        code = Reject.INSUFFICIENT_FUNDS
    if code is not None:
        out.append(CommandRejected(seq, ts, code, "withdrawal_hold"))
        return
    st.withdrawal_ids.add(cmd.withdrawal_id)
    balance = st.account(cmd.account).balance(cmd.asset)
    balance.available -= total
    balance.held += total
    st.withdrawals[cmd.withdrawal_id] = Withdrawal(cmd.account, cmd.asset, cmd.amount, cmd.fee)
    out.append(WithdrawalHeld(seq, ts, cmd.withdrawal_id, cmd.account, cmd.asset, cmd.amount, cmd.fee))


def _close_withdrawal(st: EngineState, withdrawal_id: str) -> Withdrawal | None:
    pending = st.withdrawals.pop(withdrawal_id, None)
    if pending is not None:
        st.accounts[pending.account].balance(pending.asset).held -= pending.amount + pending.fee
    return pending


def settle_withdrawal(st: EngineState, seq: int, ts: int, cmd: SettleWithdrawal, out: list[Event]) -> None:
    """The withdrawal was broadcast: amount to the omnibus account, fee to fee income."""
    w = _close_withdrawal(st, cmd.withdrawal_id)
    if w is None:
        out.append(CommandRejected(seq, ts, Reject.UNKNOWN_WITHDRAWAL, "withdrawal_settle"))
        return
    for target, amount in ((OMNIBUS_ACCOUNT, w.amount), (FEE_ACCOUNT, w.fee)):
        st.account(target).balance(w.asset).available += amount
    out.append(WithdrawalSettled(seq, ts, cmd.withdrawal_id, w.account, w.asset, w.amount, w.fee))


def release_withdrawal(st: EngineState, seq: int, ts: int, cmd: ReleaseWithdrawal, out: list[Event]) -> None:
    """The withdrawal will not happen: its held funds become available again."""
    w = _close_withdrawal(st, cmd.withdrawal_id)
    if w is None:
        out.append(CommandRejected(seq, ts, Reject.UNKNOWN_WITHDRAWAL, "withdrawal_release"))
        return
    st.accounts[w.account].balance(w.asset).available += w.amount + w.fee
    out.append(WithdrawalReleased(seq, ts, cmd.withdrawal_id, w.account, w.asset, w.amount, w.fee))


def adjust_balance(st: EngineState, seq: int, ts: int, cmd: AdjustBalance, out: list[Event]) -> None:
    """Admin correction, once per reference; a debit never takes available below zero."""
    code = _reference_error(st, cmd.account, cmd.asset, cmd.reference)
    if code is None and (cmd.delta == 0 or not cmd.reason):
        code = Reject.INVALID_AMOUNT
    if code is None and cmd.reference in st.adjustment_refs:
        code = Reject.DUPLICATE_REFERENCE
    if code is None and st.balance(cmd.account, cmd.asset)[0] + cmd.delta < 0:
        code = Reject.INSUFFICIENT_FUNDS
    if code is not None:
        out.append(CommandRejected(seq, ts, code, "adjust"))
        return
    st.adjustment_refs.add(cmd.reference)
    _move(st, ADJUSTMENT_ACCOUNT, cmd.account, cmd.asset, cmd.delta)
    out.append(BalanceAdjusted(seq, ts, cmd.account, cmd.asset, cmd.delta, cmd.reason, cmd.reference))
