"""The withdrawal pipeline: a persisted state machine from request to settled or released.

requested → held → (pending_approval →) approved → signed → broadcast → confirmed → settled,
or rejected / cancelled / failed → released. See docs/wallet.md.
"""

from wcx.wallet.withdrawals import service
from wcx.wallet.withdrawals.config import (
    AssetPolicy,
    WithdrawalConfigError,
    WithdrawalPolicy,
    WithdrawalSettings,
    load_policy,
    parse_policy,
)
from wcx.wallet.withdrawals.errors import WithdrawalError
from wcx.wallet.withdrawals.records import Ledger, Withdrawal
from wcx.wallet.withdrawals.service import (
    BookEntry,
    WithdrawalRequest,
    approve,
    list_queue,
    reject,
)
from wcx.wallet.withdrawals.states import State

__all__ = [
    "AssetPolicy",
    "BookEntry",
    "Ledger",
    "State",
    "Withdrawal",
    "WithdrawalConfigError",
    "WithdrawalError",
    "WithdrawalPolicy",
    "WithdrawalRequest",
    "WithdrawalSettings",
    "approve",
    "list_queue",
    "load_policy",
    "parse_policy",
    "reject",
    "service",
]
