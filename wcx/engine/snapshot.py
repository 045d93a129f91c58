"""Canonical engine snapshots: the same state always encodes to the same bytes."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from wcx.engine.commands import MarketStatus, OrderType, SelfTradePrevention, TimeInForce
from wcx.engine.orders import Order
from wcx.engine.state import FEE_ACCOUNT, Account, Balance, EngineState, Market, Withdrawal

SNAPSHOT_VERSION = 1


class SnapshotError(ValueError):
    """Bytes that are not a snapshot this version can restore."""


def _order_row(o: Order) -> list[Any]:
    return [
        o.id,
        o.account,
        o.symbol,
        o.is_buy,
        o.type.value,
        o.tif.value,
        o.price,
        o.quantity,
        o.remaining,
        o.filled,
        o.client_order_id,
        o.post_only,
        o.stp.value,
        o.maker_bps,
        o.taker_bps,
        o.fee_num,
        o.fee_paid,
        o.hold,
    ]


def _nonzero(balances: dict[str, Balance], held: bool) -> list[list[Any]]:
    rows = [[asset, balance.held if held else balance.available] for asset, balance in balances.items()]
    return sorted(row for row in rows if row[1])


def encode_state(st: EngineState) -> bytes:
    """Serialize the whole state in a canonical order (sorted keys, books in priority order)."""
    markets = []
    for symbol in sorted(st.markets):
        m = st.markets[symbol]
        markets.append(
            [
                m.symbol,
                m.base,
                m.quote,
                m.tick_size,
                m.lot_step,
                m.min_quantity,
                m.max_quantity,
                m.min_notional,
                m.status.value,
                [_order_row(o) for o in m.book.orders()],
            ]
        )
    accounts = []
    for account_id in sorted(st.accounts):
        a = st.accounts[account_id]
        available, held = _nonzero(a.balances, held=False), _nonzero(a.balances, held=True)
        if available or held:
            accounts.append([account_id, available, held])
    doc = [
        SNAPSHOT_VERSION,
        st.last_seq,
        st.next_order_id,
        st.next_trade_id,
        sorted(st.assets.items()),
        markets,
        accounts,
        list(st.default_fees),
        sorted([k, *v] for k, v in st.fee_overrides.items()),
        sorted(st.deposit_refs),
        sorted(st.adjustment_refs),
        sorted(st.withdrawal_ids),
        sorted([k, w.account, w.asset, w.amount, w.fee] for k, w in st.withdrawals.items()),
    ]
    # JSON, not msgpack: balances in wei exceed 64 bits and msgspec JSON keeps ints exact at any size.
    return msgspec.json.encode(doc)


def state_hash(st: EngineState) -> str:
    """SHA-256 of the canonical snapshot: equal hashes mean equal books and balances."""
    return hashlib.sha256(encode_state(st)).hexdigest()


def _restore_order(st: EngineState, market: Market, row: list[Any]) -> None:
    (
        oid,
        account_id,
        symbol,
        is_buy,
        otype,
        tif,
        price,
        quantity,
        remaining,
        filled,
        cid,
        post_only,
        stp,
        maker_bps,
        taker_bps,
        fee_num,
        fee_paid,
        hold,
    ) = row
    order = Order(
        oid,
        account_id,
        symbol,
        is_buy,
        OrderType(otype),
        TimeInForce(tif),
        price,
        quantity,
        cid,
        post_only,
        SelfTradePrevention(stp),
        maker_bps,
        taker_bps,
    )
    order.remaining, order.filled, order.fee_num, order.fee_paid, order.hold = (
        remaining,
        filled,
        fee_num,
        fee_paid,
        hold,
    )
    account = st.account(account_id)
    order.attach(account, account.balance(market.quote if is_buy else market.base))
    market.book.side(is_buy).add(order)
    st.orders[oid] = order
    account.orders[oid] = order
    if cid:
        account.client_ids[cid] = order


def decode_state(data: bytes) -> EngineState:
    """Rebuild an engine state from `encode_state` bytes."""
    try:
        doc = msgspec.json.decode(data)
        (
            version,
            last_seq,
            next_order_id,
            next_trade_id,
            assets,
            markets,
            accounts,
            default_fees,
            overrides,
            deposit_refs,
            adjustment_refs,
            withdrawal_ids,
            withdrawals,
        ) = doc
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise SnapshotError(f"unreadable snapshot: {exc}") from exc
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(f"snapshot version {version} is not {SNAPSHOT_VERSION}")
    st = EngineState(last_seq=last_seq, next_order_id=next_order_id, next_trade_id=next_trade_id)
    st.assets = dict(assets)
    for account_id, available, held in accounts:
        account = st.accounts[account_id] = Account(account_id)
        for asset, amount in available:
            account.balance(asset).available = amount
        for asset, amount in held:
            account.balance(asset).held = amount
    for symbol, base, quote, tick, step, min_q, max_q, min_notional, status, orders in markets:
        market = st.markets[symbol] = Market(
            symbol,
            base,
            quote,
            st.assets[base],
            tick,
            step,
            min_q,
            max_q,
            min_notional,
            MarketStatus(status),
            st.account(FEE_ACCOUNT).balance(quote),
        )
        # Rows are in priority order per side, so re-adding them rebuilds each queue exactly.
        for row in orders:
            _restore_order(st, market, row)
    st.default_fees = (default_fees[0], default_fees[1])
    st.fee_overrides = {account_id: (maker, taker) for account_id, maker, taker in overrides}
    st.deposit_refs = set(deposit_refs)
    st.adjustment_refs = set(adjustment_refs)
    st.withdrawal_ids = set(withdrawal_ids)
    st.withdrawals = {k: Withdrawal(a, asset, amount, fee) for k, a, asset, amount, fee in withdrawals}
    return st
