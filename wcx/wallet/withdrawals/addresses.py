"""Destination address checks: EIP-55 for Ethereum, bech32 / bech32m segwit with the network's HRP for
Bitcoin. A valid address comes back in its canonical form (checksummed, lower-case bech32)."""

from __future__ import annotations

import re

from embit import bech32
from eth_utils import is_checksum_address, to_checksum_address

from wcx.wallet.withdrawals.errors import WithdrawalError

BITCOIN_HRP = {"mainnet": "bc", "testnet": "tb", "regtest": "bcrt", "local": "bcrt"}
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
MAX_ADDRESS = 128


def _invalid(code: str, message: str) -> WithdrawalError:
    return WithdrawalError("invalid", code, message)


def ethereum_address(text: str) -> str:
    """The EIP-55 form of `text`; mixed case must carry a valid checksum, one case has none to check."""
    if not _HEX_ADDRESS.fullmatch(text):
        raise _invalid("INVALID_ADDRESS", "an Ethereum address is 0x followed by 40 hex digits")
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise _invalid("INVALID_ADDRESS_CHECKSUM", "the address fails its EIP-55 checksum (mistyped?)")
    if int(body, 16) == 0:
        raise _invalid("INVALID_ADDRESS", "the zero address burns funds")
    return str(to_checksum_address(text))


def bitcoin_address(text: str, network: str) -> str:
    """The lower-case segwit address `text` on `network` (bech32 for v0, bech32m for v1+)."""
    hrp = BITCOIN_HRP[network]
    if text != text.lower() and text != text.upper():
        raise _invalid("INVALID_ADDRESS", "a bech32 address is all lower or all upper case")
    lowered = text.lower()
    prefix, sep, _ = lowered.rpartition("1")
    if not sep or prefix not in BITCOIN_HRP.values():
        raise _invalid("INVALID_ADDRESS", "only native segwit (bech32 / bech32m) addresses are supported")
    if prefix != hrp:
        raise _invalid("WRONG_NETWORK", f"this exchange withdraws on {network}: addresses start with {hrp}1")
    version, program = bech32.decode(hrp, lowered)
    if version is None or program is None:
        raise _invalid("INVALID_ADDRESS_CHECKSUM", "the address fails its bech32/bech32m checksum")
    return lowered


def canonical_address(kind: str, network: str, text: str) -> str:
    """Validate `text` as a destination on a chain of `kind` on `network`; WithdrawalError otherwise."""
    if not isinstance(text, str) or not text or len(text) > MAX_ADDRESS or text.strip() != text:
        raise _invalid("INVALID_ADDRESS", "address is missing or malformed")
    if kind == "ethereum":
        return ethereum_address(text)
    return bitcoin_address(text, network)
