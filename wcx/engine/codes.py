"""Closed set of stable result codes, grouped by the stage that produces them."""

from __future__ import annotations

from enum import StrEnum


class Reject(StrEnum):
    """Why the engine refused a command. Values are the machine-readable codes clients see."""

    # request validation
    UNKNOWN_ASSET = "unknown_asset"
    UNKNOWN_MARKET = "unknown_market"
    INVALID_ACCOUNT = "invalid_account"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_PRICE = "invalid_price"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_ORDER = "invalid_order"
    INVALID_CLIENT_ORDER_ID = "invalid_client_order_id"
    BAD_TICK = "bad_tick"
    BAD_STEP = "bad_step"
    BELOW_MIN_QUANTITY = "below_min_quantity"
    ABOVE_MAX_QUANTITY = "above_max_quantity"
    BELOW_MIN_NOTIONAL = "below_min_notional"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    # risk
    INSUFFICIENT_FUNDS = "insufficient_funds"
    # matching
    POST_ONLY_WOULD_CROSS = "post_only_would_cross"
    FOK_CANNOT_FILL = "fok_cannot_fill"
    NO_LIQUIDITY = "no_liquidity"
    # order state
    MARKET_HALTED = "market_halted"
    MARKET_CANCEL_ONLY = "market_cancel_only"
    UNKNOWN_ORDER = "unknown_order"
    NOT_OWNER = "not_owner"
    NOTHING_TO_AMEND = "nothing_to_amend"
    # admin and money movement
    ASSET_EXISTS = "asset_exists"
    MARKET_EXISTS = "market_exists"
    INVALID_MARKET_SPEC = "invalid_market_spec"
    INVALID_FEE = "invalid_fee"
    INVALID_REFERENCE = "invalid_reference"
    DUPLICATE_REFERENCE = "duplicate_reference"
    UNKNOWN_WITHDRAWAL = "unknown_withdrawal"


class CancelReason(StrEnum):
    """Why an open order left the book without filling."""

    USER = "user"
    CANCEL_ALL = "cancel_all"
    SELF_TRADE = "self_trade_prevention"
    ADMIN = "admin"


class ExpireReason(StrEnum):
    """Why the unfilled rest of a taker order did not rest on the book."""

    IOC = "ioc"
    MARKET = "market"
    PRICE_BOUND = "price_bound"
