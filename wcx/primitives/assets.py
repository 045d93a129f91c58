"""Value types for assets and market specifications."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wcx.primitives.amounts import MAX_SCALE

_ASSET_CODE = re.compile(r"^[A-Z0-9]{2,12}$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,12}-[A-Z0-9]{2,12}$")


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset and the number of decimals of its minor unit."""

    code: str
    scale: int

    def __post_init__(self) -> None:
        if not _ASSET_CODE.match(self.code):
            raise ValueError(f"invalid asset code {self.code!r}")
        if not 0 <= self.scale <= MAX_SCALE:
            raise ValueError(f"asset scale must be within 0..{MAX_SCALE}")


def valid_symbol(symbol: str) -> bool:
    """Whether `symbol` has the BASE-QUOTE shape markets use."""
    return bool(_SYMBOL.match(symbol))
