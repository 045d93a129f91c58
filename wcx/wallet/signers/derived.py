"""Signers over keys derived in process memory from a BIP32 seed: the cold wallet's in a recovery
ceremony, the HSM-sealed deposit seed's in the wallet process (`wcx.wallet.sweeps.seed`).

Paths: BIP44 `m/44'/60'/0'/0/<index>` (Ethereum), BIP84 `m/84'/<coin>'/0'/0/<index>` (Bitcoin; coin 0
on mainnet, 1 on testnet and regtest) — the children of the account keys deposit addresses derive from.
"""

from __future__ import annotations

from bip_utils import Bip44, Bip44Changes, Bip44Coins, Bip84, Bip84Coins

from wcx.wallet.signers.signature import Signature, public_key_of, sign_with_private_key


class DerivedKeySigner:
    """A `Signer` over one secret that exists only in this process's memory."""

    backend = "derived"

    def __init__(self, secret: bytes, key_id: str) -> None:
        self._secret = secret
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        """Where the key comes from and its derivation path; never secret."""
        return self._key_id

    def public_key(self) -> bytes:
        """The 33-byte compressed public key."""
        return public_key_of(self._secret)

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest with the in-memory key."""
        return sign_with_private_key(self._secret, digest)


def ethereum_private_key(seed: bytes, index: int = 0) -> bytes:
    """The secret of m/44'/60'/0'/0/index, in memory only."""
    eth = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    return bytes(eth.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PrivateKey().Raw().ToBytes())


def bitcoin_private_key(seed: bytes, index: int = 0, *, mainnet: bool) -> bytes:
    """The secret of the BIP84 receive key m/84'/coin'/0'/0/index, in memory only."""
    coin = Bip84Coins.BITCOIN if mainnet else Bip84Coins.BITCOIN_TESTNET
    btc = Bip84.FromSeed(seed, coin).Purpose().Coin().Account(0)
    return bytes(btc.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PrivateKey().Raw().ToBytes())
