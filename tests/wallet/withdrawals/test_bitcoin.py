"""Bitcoin withdrawals: coin selection, a PSBT signed input by input inside SoftHSM2 (BIP143 digests,
verified here with embit), broadcast to bitcoind's RPC (FakeBitcoind), confirmed and settled; outputs
spent by an unconfirmed withdrawal are never selected twice."""

from __future__ import annotations

import pytest
from embit import bech32
from embit.script import address_to_scriptpubkey
from embit.transaction import Transaction

from wcx.runtime import Runtime
from wcx.testing.bitcoind import FakeBitcoind
from wcx.wallet.chains.bitcoin.node import BitcoinNode, Utxo
from wcx.wallet.chains.bitcoin.rpc import BitcoinRpc
from wcx.wallet.signers import Pkcs11Signer
from wcx.wallet.withdrawals import State, WithdrawalPolicy, WithdrawalRequest, service
from wcx.wallet.withdrawals.bitcoin import DUST, InsufficientFundsError, hot_address, select_coins
from wcx.wallet.withdrawals.processor import HotWallet, TokenRoute, WithdrawalProcessor, reload

from .conftest import add_user, verify_signed_by

pytestmark = pytest.mark.anyio

BTC = 10**8
TO = bech32.encode("bcrt", 0, bytes(range(20)))


def utxo(n: int, amount: int) -> Utxo:
    """An output of `amount` sat."""
    return Utxo(f"{n:064x}", 0, amount, b"", 1)


def test_coin_selection_takes_largest_first_and_drops_dust_change() -> None:
    chosen, fee, change = select_coins([utxo(1, 10_000), utxo(2, 500_000), utxo(3, 60_000)], 400_000, 10)
    assert [u.amount for u in chosen] == [500_000] and fee == 10 * (11 + 68 + 62)
    assert change == 500_000 - 400_000 - fee
    # What would be left is below dust: no change output, the remainder is fee.
    chosen, fee, change = select_coins([utxo(1, 100_000)], 100_000 - 1_200, 10)
    assert (change, fee) == (0, 1_200) and DUST > 1_200 - 10 * (11 + 68 + 31)
    with pytest.raises(InsufficientFundsError):
        select_coins([utxo(1, 10_000)], 10_000, 1)


async def test_btc_withdrawal_is_signed_in_the_hsm_and_settled(
    runtime: Runtime, policy: WithdrawalPolicy, bitcoind: FakeBitcoind, hsm_signer: Pkcs11Signer
) -> None:
    node = BitcoinNode(BitcoinRpc(bitcoind.url))
    address = hot_address(hsm_signer, "regtest")
    routes = {"BTC": TokenRoute("", 3)}
    wallet = HotWallet(
        "bitcoin", node, hsm_signer, address, 0, "BTC", routes, kind="bitcoin", network="regtest"
    )
    bitcoind.pay(address, BTC)
    bitcoind.mine(1)
    alice = await add_user(runtime, "alice@example.com", {"BTC": 2 * BTC})
    proc = WithdrawalProcessor(runtime.db, runtime, policy, {"bitcoin": wallet})

    async def withdraw(amount: str) -> str:
        req = WithdrawalRequest(user_id=alice, asset="BTC", address=TO, amount=amount)
        return (await service.request_withdrawal(runtime.db, runtime, policy, req)).id

    first, second = await withdraw("0.3"), await withdraw("0.25")
    await proc.run_once()
    w = await reload(runtime.db, first)
    assert w is not None and w.state is State.BROADCAST and w.raw_tx
    verify_signed_by(bytes.fromhex(w.raw_tx), hsm_signer, [BTC])
    paid = Transaction.parse(bytes.fromhex(w.raw_tx)).vout
    assert paid[0].value == 30_000_000 and paid[0].script_pubkey.data == address_to_scriptpubkey(TO).data
    # The only confirmed output is spent by the first withdrawal: the second waits for the change.
    waiting = await reload(runtime.db, second)
    assert waiting is not None and (waiting.state, waiting.attempts) == (State.APPROVED, 1)
    bitcoind.mine(3)
    await proc.run_once()
    assert (await reload(runtime.db, first)).state is State.SETTLED  # type: ignore[union-attr]
    assert (await reload(runtime.db, second)).state is State.BROADCAST  # type: ignore[union-attr]
    bitcoind.mine(3)
    await proc.run_once()
    assert (await reload(runtime.db, second)).state is State.SETTLED  # type: ignore[union-attr]
    assert await node.balance(TO, "BTC") == 55_000_000
    fee = 20_000  # the policy's 0.0002 BTC per withdrawal
    assert runtime.engine.state.balance(alice, "BTC") == (2 * BTC - 55_000_000 - 2 * fee, 0)
    await node.close()
