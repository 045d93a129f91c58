"""Bitcoin encodings: BTC amounts to satoshi, txids of raw transactions, output addresses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from embit.transaction import Transaction

SATS_PER_BTC = 10**8


def to_sats(value: Decimal | int | str) -> int:
    """A BTC amount as bitcoind prints it, in satoshi; anything finer than a satoshi is refused."""
    sats = Decimal(str(value)) * SATS_PER_BTC
    if sats != sats.to_integral_value():
        raise ValueError(f"{value} BTC is not a whole number of satoshi")
    return int(sats)


def to_btc(sats: int) -> Decimal:
    """Satoshi as the BTC decimal bitcoind expects."""
    return Decimal(sats) / SATS_PER_BTC


def txid(raw_tx: bytes) -> str:
    """The txid (hex, as bitcoind prints it) of a serialized transaction; ValueError if it does not parse."""
    try:
        return Transaction.parse(raw_tx).txid().hex()
    except Exception as exc:  # embit raises a mix of its own errors and struct/index errors on garbage
        raise ValueError(f"not a Bitcoin transaction: {exc}") from None


def output_address(vout: dict[str, Any]) -> str:
    """The address an output of a decoded transaction (getblock verbosity 2) pays, or ""."""
    script = vout.get("scriptPubKey", {})
    address = script.get("address")
    if address is None:  # bitcoind before 22 listed `addresses`
        addresses = script.get("addresses") or [""]
        address = addresses[0] if len(addresses) == 1 else ""
    return str(address).lower()


def sat_per_vbyte(btc_per_kvb: Decimal | str) -> int:
    """estimatesmartfee's BTC/kvB as whole sat/vB, rounded up (paying a fraction more never hurts)."""
    rate = Decimal(str(btc_per_kvb)) * SATS_PER_BTC / 1000
    return max(1, int(rate.to_integral_value(rounding="ROUND_CEILING")))
