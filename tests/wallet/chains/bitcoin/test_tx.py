"""PSBT payments built, signed through the Signer port, finalised and verified offline (embit)."""

from __future__ import annotations

import secrets

import pytest
from bip_utils import Bip39SeedGenerator, Bip44Changes, Bip84, Bip84Coins
from embit.ec import PublicKey
from embit.networks import NETWORKS
from embit.script import address_to_scriptpubkey, p2wpkh
from embit.transaction import Transaction

from wcx.testing.signers import FakeSigner
from wcx.wallet.addresses import derive_address
from wcx.wallet.chains.bitcoin import Utxo
from wcx.wallet.chains.bitcoin.tx import (
    DUST_SATS,
    PaymentError,
    build_payment,
    estimated_vsize,
    finalize,
    sign_payment,
    verify,
)
from wcx.wallet.config import PUBLIC_TEST_KEYS
from wcx.wallet.signers.signature import Signature, public_key_of, sign_with_private_key

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
VPUB = next(k for k in PUBLIC_TEST_KEYS if k.startswith("vpub"))


class KeySigner:
    """A Signer over a raw key (a deposit address's key from the test mnemonic, as a sweep would use)."""

    key_id = "test:deposit"

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def public_key(self) -> bytes:
        return public_key_of(self.secret)

    def sign_digest(self, digest: bytes) -> Signature:
        return sign_with_private_key(self.secret, digest)


def address_of(public: bytes) -> str:
    return str(p2wpkh(PublicKey.parse(public)).address(NETWORKS["regtest"]))


def utxo(address: str, amount: int, vout: int = 0) -> Utxo:
    script = bytes(address_to_scriptpubkey(address).data)
    return Utxo(secrets.token_hex(32), vout, amount, script, 100)


def test_pay_with_change_signed_and_verified() -> None:
    signer = FakeSigner(b"hot")
    own = address_of(signer.public_key())
    coins = [utxo(own, 30_000), utxo(own, 80_000, 1), utxo(own, 5_000, 2)]
    to = address_of(FakeSigner(b"customer").public_key())
    payment = build_payment(coins, [(to, 60_000)], own, fee_rate=3)
    assert [u.amount for u in payment.spent] == [80_000]  # largest first, one input is enough
    assert payment.fee == 3 * estimated_vsize(1, 2)
    assert payment.change == 80_000 - 60_000 - payment.fee
    assert sign_payment(payment.psbt, signer) == 1
    raw = finalize(payment.psbt)
    assert verify(raw, payment.spent)
    tx = Transaction.parse(raw)
    assert [out.value for out in tx.vout] == [60_000, payment.change]
    # a different amount in the signed output breaks the signature
    tx.vout[0].value = 70_000
    assert not verify(tx.serialize(), payment.spent)


def test_sweep_of_a_derived_deposit_address() -> None:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN_REGTEST).Purpose().Coin().Account(0)
    key = account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(7).PrivateKey().Raw().ToBytes()
    deposit = derive_address("bitcoin", "regtest", VPUB, 7)  # what the API handed user 7
    signer = KeySigner(key)
    assert address_of(signer.public_key()) == deposit
    hot = address_of(FakeSigner(b"hot").public_key())
    coins = [utxo(deposit, 10_000), utxo(deposit, 20_000, 1)]
    payment = build_payment(coins, [(hot, 29_600)], deposit, fee_rate=1)
    assert len(payment.spent) == 2 and payment.change == 0  # the remainder is below dust: fee
    assert payment.fee == 400
    assert sign_payment(payment.psbt, signer) == 2
    assert verify(finalize(payment.psbt), payment.spent)


def test_refusals() -> None:
    signer = FakeSigner(b"hot")
    own = address_of(signer.public_key())
    with pytest.raises(PaymentError, match="insufficient funds"):
        build_payment([utxo(own, 10_000)], [(own, 9_990)], own, fee_rate=5)
    with pytest.raises(PaymentError, match="at least"):
        build_payment([utxo(own, 10_000)], [(own, DUST_SATS - 1)], own, fee_rate=1)
    payment = build_payment([utxo(own, 10_000)], [(own, 5_000)], own, fee_rate=1)
    assert sign_payment(payment.psbt, FakeSigner(b"someone else")) == 0
    with pytest.raises(PaymentError, match="no signature"):
        finalize(payment.psbt)
