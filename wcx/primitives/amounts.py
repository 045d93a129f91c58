"""Exact money: integers of an asset's minor unit inside, decimal strings on the wire."""

from __future__ import annotations

import re

MAX_SCALE = 30
MAX_TEXT = 64
# Plain ASCII decimals only: no exponent, sign other than a rejected minus, spaces or digit separators.
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")


class AmountError(ValueError):
    """A decimal string that is not a valid amount at the required scale."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_amount(text: str, scale: int, *, allow_zero: bool = False) -> int:
    """Parse a decimal string into minor units, rejecting (never rounding) excess precision."""
    match = _DECIMAL.fullmatch(text) if isinstance(text, str) and len(text) <= MAX_TEXT else None
    if match is None:
        raise AmountError("invalid_amount", "amount must be a plain decimal string such as '0.0012'")
    sign, whole, fraction = match.groups()
    fraction = (fraction or "").rstrip("0")
    if len(fraction) > scale:
        raise AmountError("too_precise", f"{text!r} has more than {scale} decimal places")
    units: int = int(whole) * 10**scale + int(fraction.ljust(scale, "0") or "0")
    if units and sign:
        raise AmountError("negative_amount", f"amount must not be negative: {text!r}")
    if units == 0 and not allow_zero:
        raise AmountError("zero_amount", "amount must be positive")
    return units


def format_amount(units: int, scale: int) -> str:
    """Render minor units as a fixed-point decimal string with exactly `scale` decimals."""
    sign = "-" if units < 0 else ""
    digits = str(abs(units))
    if scale == 0:
        return sign + digits
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"
