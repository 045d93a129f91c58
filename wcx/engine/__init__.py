"""Pure, deterministic trading core: accounts, risk, books, matching, fees."""

from wcx.engine.codes import CancelReason, ExpireReason, Reject
from wcx.engine.commands import (
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
from wcx.engine.engine import Engine, SequenceError
from wcx.engine.events import Event
from wcx.engine.snapshot import SnapshotError
from wcx.engine.state import ADJUSTMENT_ACCOUNT, FEE_ACCOUNT, OMNIBUS_ACCOUNT, SYSTEM_ACCOUNTS

__all__ = [
    "ADJUSTMENT_ACCOUNT",
    "FEE_ACCOUNT",
    "OMNIBUS_ACCOUNT",
    "SYSTEM_ACCOUNTS",
    "AddAsset",
    "AddMarket",
    "AdjustBalance",
    "AmendOrder",
    "CancelAll",
    "CancelOrder",
    "CancelReason",
    "Command",
    "CreditDeposit",
    "Engine",
    "Event",
    "ExpireReason",
    "HoldWithdrawal",
    "MarketStatus",
    "OrderType",
    "PlaceOrder",
    "Reject",
    "ReleaseWithdrawal",
    "SelfTradePrevention",
    "SequenceError",
    "SetFeeSchedule",
    "SetMarketStatus",
    "SettleWithdrawal",
    "Side",
    "SnapshotError",
    "TimeInForce",
]
