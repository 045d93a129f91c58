"""Watch-only derivation matches the BIP test vectors and refuses keys it cannot use."""

from __future__ import annotations

import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins

from wcx.wallet.addresses import MAX_INDEX, AddressError, derive_address
from wcx.wallet.config import PUBLIC_TEST_KEYS

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
ZPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("zpub"))
VPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("vpub"))
XPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("xpub"))


def test_bip84_vectors_on_every_network() -> None:
    # BIP84's published vectors for the test mnemonic: m/84'/0'/0'/0/0 and m/84'/0'/0'/0/1
    assert derive_address("bitcoin", "mainnet", ZPUB, 0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert derive_address("bitcoin", "mainnet", ZPUB, 1) == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    assert derive_address("bitcoin", "testnet", VPUB, 0).startswith("tb1q")
    assert derive_address("bitcoin", "regtest", VPUB, 0).startswith("bcrt1q")


def test_bip44_ethereum_matches_the_private_derivation() -> None:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    account = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    for index in (0, 1, 4242):
        expected = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(index).PublicKey().ToAddress()
        assert derive_address("ethereum", "local", XPUB, index) == expected
    assert derive_address("ethereum", "mainnet", XPUB, 0) == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"


@pytest.mark.parametrize(
    ("kind", "network", "key", "index", "code"),
    [
        ("bitcoin", "mainnet", VPUB, 0, "INVALID_KEY"),  # a testnet key on mainnet
        ("ethereum", "mainnet", ZPUB, 0, "INVALID_KEY"),
        ("ethereum", "mainnet", "not-a-key", 0, "INVALID_KEY"),
        ("ethereum", "mainnet", XPUB, MAX_INDEX + 1, "INVALID_INDEX"),
        ("ethereum", "mainnet", XPUB, -1, "INVALID_INDEX"),
    ],
)
def test_bad_keys_and_indexes(kind: str, network: str, key: str, index: int, code: str) -> None:
    with pytest.raises(AddressError) as caught:
        derive_address(kind, network, key, index)
    assert caught.value.code == code


def test_a_non_account_level_key_is_refused() -> None:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    change = (
        Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0).Change(Bip44Changes.CHAIN_EXT)
    )
    with pytest.raises(AddressError, match="account-level"):
        derive_address("ethereum", "mainnet", change.PublicKey().ToExtended(), 0)
