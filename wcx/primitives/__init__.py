"""Value types shared by every bounded context (stdlib only)."""

from wcx.primitives.amounts import AmountError, format_amount, parse_amount
from wcx.primitives.assets import Asset, valid_symbol

__all__ = ["AmountError", "Asset", "format_amount", "parse_amount", "valid_symbol"]
