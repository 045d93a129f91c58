"""Shared helpers for journal tests: sample records and a realistic command stream."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from wcx.engine import (
    AddAsset,
    AddMarket,
    AdjustBalance,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CreditDeposit,
    HoldWithdrawal,
    MarketStatus,
    OrderType,
    PlaceOrder,
    ReleaseWithdrawal,
    SelfTradePrevention,
    SetFeeSchedule,
    SetMarketStatus,
    SettleWithdrawal,
    Side,
    TimeInForce,
)
from wcx.journal import JournalWriter, Record
from wcx.testing.crash_child import command_stream

EVERY_COMMAND: list[Command] = [
    AddAsset("ETH", 18),
    AddMarket("ETH-USDT", "ETH", "USDT", 10_000, 10**15, 10**15, 10**24, 1_000_000, MarketStatus.CANCEL_ONLY),
    SetMarketStatus("ETH-USDT", MarketStatus.HALTED),
    SetFeeSchedule(10, 20),
    SetFeeSchedule(0, 5, account=7, clear=True),
    CreditDeposit(1, "ETH", 10**25, "0xdeposit-tx:3"),
    HoldWithdrawal("w-1", 1, "ETH", 10**18, fee=10**15),
    SettleWithdrawal("w-1"),
    ReleaseWithdrawal("w-2"),
    AdjustBalance(1, "USDT", -5, "support ticket 42", "adj-1"),
    PlaceOrder(1, "ETH-USDT", Side.BUY, price=3_000_000_000, quantity=10**16, client_order_id="x" * 40),
    PlaceOrder(
        2,
        "ETH-USDT",
        Side.SELL,
        OrderType.MARKET,
        TimeInForce.IOC,
        price=1,
        quote_amount=5_000_000,
        post_only=False,
        stp=SelfTradePrevention.CANCEL_BOTH,
    ),
    PlaceOrder(3, "ETH-USDT", Side.BUY, tif=TimeInForce.FOK, price=1, quantity=1, post_only=True),
    CancelOrder(1, order_id=5),
    CancelOrder(1, client_order_id="abc", admin=True),
    CancelAll(1),
    CancelAll(2, "ETH-USDT", admin=True),
    AmendOrder(1, order_id=5, quantity=10, price=20),
    AmendOrder(1, client_order_id="abc", quantity=3),
]


def records_of(
    commands: list[Command], first_seq: int = 1, ts: int = 1_700_000_000_000_000_000
) -> list[Record]:
    """Commands numbered from first_seq with increasing timestamps."""
    return [(seq, ts + seq, command) for seq, command in enumerate(commands, first_seq)]


def trading_stream(count: int, seed: int = 7) -> list[Command]:
    """Reference-data set-up and funding, then seeded trading commands: `count` commands in all."""
    return list(islice(command_stream(seed, fresh=True), count))


def write_journal(
    data_dir: Path, records: list[Record], *, batch: int = 10, segment_bytes: int = 4096
) -> None:
    """Write records through a JournalWriter in group commits of `batch`."""
    with JournalWriter(data_dir, segment_bytes=segment_bytes) as writer:
        for start in range(0, len(records), batch):
            writer.append(records[start : start + batch])
            writer.sync()
