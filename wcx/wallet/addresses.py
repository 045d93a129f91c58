"""Watch-only deposit address derivation (bip-utils); no private key ever appears here.

Deposit addresses come from the account-level extended public key of each chain: BIP84 native
segwit (`m/84'/coin'/0'/0/i`, bc1 / tb1 / bcrt1) for Bitcoin and BIP44 (`m/44'/60'/0'/0/i`) for
Ethereum. Index i is the user id, so an address can be re-derived from the key and the user alone
(sweeps and the custody recovery do exactly that on the signing side).
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from wcx.wallet.config import ChainKind, Network

MAX_INDEX = 2**31 - 1
"""Non-hardened child indexes only: a public key cannot derive hardened children."""


class AddressError(ValueError):
    """A key that is malformed, of another network or not account-level; `code` is machine-readable.

    (Destination address validation for withdrawals lives in `wcx.wallet.withdrawals.addresses`.)
    """

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
