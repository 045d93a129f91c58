"""Exact money: integers of an asset's minor unit inside, decimal strings on the wire."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_SCALE = 30


class AmountError(ValueError):
    """A decimal string that is not a valid amount at the required scale."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_amount(text: str, scale: int, *, allow_zero: bool = False) -> int:
    """Parse a decimal string into minor units, rejecting (never rounding) excess precision."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise AmountError("invalid_amount", "amount must be a decimal string")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AmountError("invalid_amount", f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise AmountError("invalid_amount", f"not a finite number: {text!r}")
    if value < 0:
        raise AmountError("negative_amount", f"amount must not be negative: {text!r}")
    if value == 0 and not allow_zero:
        raise AmountError("zero_amount", "amount must be positive")
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise AmountError("too_precise", f"{text!r} has more than {scale} decimal places")
    return int(scaled)


def format_amount(units: int, scale: int) -> str:
    """Render minor units as a fixed-point decimal string with exactly `scale` decimals."""
    sign = "-" if units < 0 else ""
    digits = str(abs(units))
    if scale == 0:
        return sign + digits
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"
