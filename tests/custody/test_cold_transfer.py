"""Signing a prepared cold-to-hot Ethereum transaction with the recovered cold wallet."""

from __future__ import annotations

import pytest
from embit.ec import PublicKey
from embit.networks import NETWORKS
from embit.script import address_to_scriptpubkey, p2wpkh
from embit.transaction import Transaction
from eth_account import Account

from wcx.custody.ceremony import Recovery
from wcx.custody.cold_transfer import parse_transaction, sign_cold_psbt, sign_cold_transfer
from wcx.custody.errors import CustodyError
from wcx.testing.signers import FakeSigner
from wcx.wallet.chains.bitcoin.node import Utxo
from wcx.wallet.chains.bitcoin.tx import build_payment

from .conftest import Ceremony

HOT = "0x000000000000000000000000000000000000dEaD"


def _prepared(**overrides: object) -> dict[str, object]:
    document: dict[str, object] = {
        "type": 2,
        "chainId": 11155111,
        "nonce": "0x3",
        "to": HOT,
        "value": "2500000000000000000",
        "gas": 21000,
        "maxFeePerGas": "30000000000",
        "maxPriorityFeePerGas": "1000000000",
    }
    document.update(overrides)
    return document


def test_a_cold_to_hot_transfer_is_signed_by_the_recorded_cold_address(
    ceremony_run: Ceremony, recovered: Recovery
) -> None:
    cold = ceremony_run.result.record.keys.eth_address
    signed = sign_cold_transfer(recovered, parse_transaction(_prepared(**{"from": cold})), hot_address=HOT)
    assert signed.sender == cold
    assert Account.recover_transaction(signed.raw) == cold
    legacy = parse_transaction({"chainId": 1, "nonce": 0, "to": HOT, "value": 1, "gas": 21000, "gasPrice": 1})
    assert Account.recover_transaction(sign_cold_transfer(recovered, legacy).raw) == cold


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (_prepared(to=HOT.lower()), "EIP-55"),
        (_prepared(value="-1"), "must be an integer"),
        (_prepared(value=True), "must be an integer"),
        (_prepared(nonce="0xzz"), "not a hex integer"),
        (_prepared(password="x"), "unknown transaction fields"),
        ({k: v for k, v in _prepared().items() if k != "gas"}, "lacks 'gas'"),
        ({k: v for k, v in _prepared().items() if k != "maxFeePerGas"}, "maxFeePerGas"),
        (_prepared(data="zz"), "0x-prefixed"),
    ],
)
def test_bad_prepared_transactions_are_refused(document: dict[str, object], message: str) -> None:
    with pytest.raises(CustodyError, match=message):
        parse_transaction(document)


def test_wrong_sender_or_recipient_is_refused(recovered: Recovery) -> None:
    other = "0x000000000000000000000000000000000000bEEF"
    with pytest.raises(CustodyError, match="the recovered key is"):
        sign_cold_transfer(recovered, parse_transaction(_prepared(**{"from": other})))
    with pytest.raises(CustodyError, match="not the hot wallet"):
        sign_cold_transfer(recovered, parse_transaction(_prepared(to=other)), hot_address=HOT)


def _testnet_address(seed: bytes) -> str:
    return str(p2wpkh(PublicKey.parse(FakeSigner(seed).public_key())).address(NETWORKS["test"]))


def _psbt(pay_from: str, pay_to: str, change: str) -> str:
    utxo = Utxo("11" * 32, 1, 250_000, address_to_scriptpubkey(pay_from).data, 100)
    return str(build_payment([utxo], [(pay_to, 200_000)], change, fee_rate=3).psbt.to_string())


def test_a_cold_to_hot_bitcoin_psbt_is_signed_and_verifies(
    ceremony_run: Ceremony, recovered: Recovery
) -> None:
    cold = ceremony_run.result.record.keys.btc_address
    hot = _testnet_address(b"hot wallet")
    signed = sign_cold_psbt(recovered, _psbt(cold, hot, cold), hot_address=hot)
    assert signed.signed_inputs == 1
    tx = Transaction.parse(signed.raw)
    assert tx.txid().hex() == signed.txid
    assert tx.vout[0].value == 200_000


def test_psbts_paying_elsewhere_or_spending_other_keys_are_refused(
    ceremony_run: Ceremony, recovered: Recovery
) -> None:
    cold = ceremony_run.result.record.keys.btc_address
    hot, thief = _testnet_address(b"hot wallet"), _testnet_address(b"thief")
    with pytest.raises(CustodyError, match="neither the hot wallet nor change"):
        sign_cold_psbt(recovered, _psbt(cold, thief, cold), hot_address=hot)
    with pytest.raises(CustodyError, match="spends nothing of the cold key"):
        sign_cold_psbt(recovered, _psbt(thief, hot, cold), hot_address=hot)
    with pytest.raises(CustodyError, match="not a valid PSBT"):
        sign_cold_psbt(recovered, "cHNidP8=garbage")
