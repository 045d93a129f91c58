"""Watch-only address derivation and validation (bip-utils, embit); no private key ever appears here.

Deposit addresses come from the account-level extended public key of each chain: BIP84 native
segwit (`m/84'/coin'/0'/0/i`, bc1 / tb1 / bcrt1) for Bitcoin and BIP44 (`m/44'/60'/0'/0/i`) for
Ethereum. Index i is the user id, so an address can be re-derived from the key and the user alone
(sweeps and the custody recovery do exactly that on the signing side).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bip_utils import (
    Bip32KeyError,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip44DepthError,
    Bip44Levels,
    Bip84,
    Bip84Coins,
)
from embit import base58, bech32
from eth_utils import is_checksum_address, to_checksum_address

if TYPE_CHECKING:
    from wcx.wallet.config import ChainKind, Network

MAX_INDEX = 2**31 - 1
"""Non-hardened child indexes only: a public key cannot derive hardened children."""

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BECH32_HRP = {"mainnet": "bc", "testnet": "tb", "regtest": "bcrt", "local": "bcrt"}
_BASE58_PREFIX = {"mainnet": (b"\x00", b"\x05"), "testnet": (b"\x6f", b"\xc4")}


class AddressError(ValueError):
    """An address or key that is malformed or belongs to another network; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _bitcoin_coin(network: str) -> Bip84Coins:
    if network == "mainnet":
        return Bip84Coins.BITCOIN
    return Bip84Coins.BITCOIN_TESTNET if network == "testnet" else Bip84Coins.BITCOIN_REGTEST


def derive_address(kind: ChainKind | str, network: Network | str, xpub: str, index: int) -> str:
    """The receive address number `index` under an account-level extended public key."""
    if not 0 <= index <= MAX_INDEX:
        raise AddressError("INVALID_INDEX", f"derivation index must be within 0..{MAX_INDEX}")
    try:
        if str(kind) == "ethereum":
            account = Bip44.FromExtendedKey(xpub, Bip44Coins.ETHEREUM)
        else:
            account = Bip84.FromExtendedKey(xpub, _bitcoin_coin(str(network)))
        if not account.IsLevel(Bip44Levels.ACCOUNT):
            raise AddressError("INVALID_KEY", "expected an account-level extended public key")
        child = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index)
        return str(child.PublicKey().ToAddress())
    except (Bip32KeyError, Bip44DepthError, ValueError, TypeError) as exc:
        if isinstance(exc, AddressError):
            raise
        raise AddressError("INVALID_KEY", f"not a usable {kind} account key for {network}: {exc}") from None


def validate_address(kind: ChainKind | str, network: Network | str, address: str) -> str:
    """The canonical form of `address` (EIP-55 checksummed; lower-case bech32), or AddressError.

    Ethereum: a mixed-case address must carry a valid EIP-55 checksum (all-lower/upper carry none).
    Bitcoin: segwit v0 (bech32) or v1+ (bech32m) with this network's prefix, or base58 P2PKH/P2SH.
    """
    if str(kind) == "ethereum":
        return _ethereum(address)
    return _bitcoin(str(network), address)


def _ethereum(address: str) -> str:
    if not _HEX_ADDRESS.match(address):
        raise AddressError("INVALID_ADDRESS", "an Ethereum address is 0x and 40 hex digits")
    body = address[2:]
    mixed = body != body.lower() and body != body.upper()
    if mixed and not is_checksum_address(address):
        raise AddressError("INVALID_CHECKSUM", "the address's EIP-55 checksum does not match")
    return str(to_checksum_address(address))


def _bitcoin(network: str, address: str) -> str:
    hrp = _BECH32_HRP[network]
    lowered = address.lower()
    if lowered.startswith(("bc1", "tb1", "bcrt1")):
        if address not in (lowered, address.upper()):
            raise AddressError("INVALID_ADDRESS", "a bech32 address is all lower or all upper case")
        if not lowered.startswith(hrp + "1"):
            raise AddressError("WRONG_NETWORK", f"address is not for Bitcoin {network} ({hrp}1…)")
        version, program = bech32.decode(hrp, lowered)
        if version is None or program is None:
            raise AddressError("INVALID_CHECKSUM", "bech32/bech32m checksum or program invalid")
        return lowered
    try:
        payload = base58.decode_check(address)
    except Exception:
        raise AddressError("INVALID_ADDRESS", "not a Bitcoin address") from None
    if len(payload) != 21:
        raise AddressError("INVALID_ADDRESS", "not a Bitcoin address")
    if payload[:1] not in _BASE58_PREFIX["mainnet" if network == "mainnet" else "testnet"]:
        raise AddressError("WRONG_NETWORK", f"address is not for Bitcoin {network}")
    return address
