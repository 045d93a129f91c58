"""Watch-only keys of the cold wallet derived from its master secret (BIP32 seed) with bip-utils."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bip_utils import (
    Bip32Secp256k1,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip84,
    Bip84Coins,
)

from wcx.wallet.signers import derived


class Network(StrEnum):
    """Which Bitcoin network the cold wallet's watch-only keys are encoded for (zpub / vpub)."""

    MAINNET = "mainnet"
    TESTNET = "testnet"
    REGTEST = "regtest"


_BTC_COINS = {
    Network.MAINNET: Bip84Coins.BITCOIN,
    Network.TESTNET: Bip84Coins.BITCOIN_TESTNET,
    Network.REGTEST: Bip84Coins.BITCOIN_REGTEST,
}
_BTC_COIN_TYPE = {Network.MAINNET: 0, Network.TESTNET: 1, Network.REGTEST: 1}


@dataclass(frozen=True, slots=True)
class ColdWalletKeys:
    """What the servers may know about the cold wallet: fingerprint, account xpubs, first addresses."""

    network: Network
    fingerprint: str
    btc_path: str
    btc_xpub: str
    btc_address: str
    eth_path: str
    eth_xpub: str
    eth_address: str

    def to_json(self) -> dict[str, Any]:
        """The public record's key section."""
        return {
            "network": self.network.value,
            "fingerprint": self.fingerprint,
            "bitcoin": {"path": self.btc_path, "xpub": self.btc_xpub, "address": self.btc_address},
            "ethereum": {"path": self.eth_path, "xpub": self.eth_xpub, "address": self.eth_address},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColdWalletKeys:
        """Read the key section of a public record."""
        return cls(
            network=Network(data["network"]),
            fingerprint=str(data["fingerprint"]),
            btc_path=str(data["bitcoin"]["path"]),
            btc_xpub=str(data["bitcoin"]["xpub"]),
            btc_address=str(data["bitcoin"]["address"]),
            eth_path=str(data["ethereum"]["path"]),
            eth_xpub=str(data["ethereum"]["xpub"]),
            eth_address=str(data["ethereum"]["address"]),
        )


def master_fingerprint(seed: bytes) -> str:
    """The BIP32 master key fingerprint (first 4 bytes of HASH160 of the master public key), hex."""
    return str(Bip32Secp256k1.FromSeed(seed).FingerPrint().ToHex())


def derive_keys(seed: bytes, network: Network) -> ColdWalletKeys:
    """Account-level watch-only keys: BIP84 account 0 for Bitcoin, BIP44 account 0 for Ethereum."""
    btc = Bip84.FromSeed(seed, _BTC_COINS[network]).Purpose().Coin().Account(0)
    eth = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    return ColdWalletKeys(
        network=network,
        fingerprint=master_fingerprint(seed),
        btc_path=f"m/84'/{_BTC_COIN_TYPE[network]}'/0'",
        btc_xpub=str(btc.PublicKey().ToExtended()),
        btc_address=str(btc.Change(Bip44Changes.CHAIN_EXT).AddressIndex(0).PublicKey().ToAddress()),
        eth_path="m/44'/60'/0'",
        eth_xpub=str(eth.PublicKey().ToExtended()),
        eth_address=str(eth.Change(Bip44Changes.CHAIN_EXT).AddressIndex(0).PublicKey().ToAddress()),
    )


def bitcoin_private_key(seed: bytes, network: Network, index: int = 0) -> bytes:
    """The secret of the BIP84 receive key m/84'/coin'/0'/0/index of `network`, in memory only."""
    return derived.bitcoin_private_key(seed, index, mainnet=network is Network.MAINNET)
