"""Ethereum encodings: ERC-20 `Transfer` logs and calls, addresses in topics, hashes as 0x-hex."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import keccak, to_checksum_address

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
BALANCE_OF = keccak(text="balanceOf(address)")[:4]
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
_WORD = 32
PLAIN_TRANSFER_GAS = 21_000
"""The gas of a value transfer that runs no code: exact, so it needs no safety margin."""


def hex0x(value: bytes | str) -> str:
    """0x-prefixed lower-case hex of bytes (web3 HexBytes included) or of a hex string."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = value.lower()
    return text if text.startswith("0x") else "0x" + text


def topic_address(topic: bytes | str) -> str:
    """The checksummed address in an indexed event topic (the low 20 bytes of the 32-byte word)."""
    raw = bytes(topic) if isinstance(topic, bytes | bytearray) else bytes.fromhex(hex0x(topic)[2:])
    return str(to_checksum_address(raw[-20:]))


def word(value: bytes | str) -> int:
    """A 32-byte big-endian word (event data, call result) as an int."""
    raw = bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(hex0x(value)[2:])
    if len(raw) != _WORD:
        raise ValueError(f"expected one 32-byte word, got {len(raw)} bytes")
    return int.from_bytes(raw, "big")


def decode_transfer(log: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """(from, to, amount) of an ERC-20 Transfer log; None for a look-alike (e.g. ERC-721, 4 topics)."""
    topics = log["topics"]
    if len(topics) != 3 or hex0x(topics[0]) != TRANSFER_TOPIC:
        return None
    try:
        return topic_address(topics[1]), topic_address(topics[2]), word(log["data"])
    except ValueError:
        return None


def _address_word(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def balance_of_call(owner: str) -> bytes:
    """Calldata of `balanceOf(owner)`."""
    return BALANCE_OF + _address_word(owner)


def transfer_call(to: str, amount: int) -> bytes:
    """Calldata of ERC-20 `transfer(to, amount)`."""
    if not 0 <= amount < 2**256:
        raise ValueError("amount out of uint256 range")
    return TRANSFER + _address_word(to) + amount.to_bytes(_WORD, "big")
