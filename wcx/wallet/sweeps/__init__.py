"""Sweeping deposit addresses into the hot wallet: planned without keys, signed in the cold ceremony
(gas top-ups by the hot key), checked offline, broadcast and followed to confirmation. See docs/wallet.md."""

from wcx.wallet.sweeps.documents import PLAN_FORMAT, SIGNED_FORMAT, plan_document, signed_document
from wcx.wallet.sweeps.planner import SweepTarget, plan_sweeps
from wcx.wallet.sweeps.processor import SweepProcessor
from wcx.wallet.sweeps.records import Sweep, SweepError, SweepInput
from wcx.wallet.sweeps.service import awaiting_signature, cancel_sweep, submit_signed
from wcx.wallet.sweeps.states import SweepKind, SweepState

__all__ = [
    "PLAN_FORMAT",
    "SIGNED_FORMAT",
    "Sweep",
    "SweepError",
    "SweepInput",
    "SweepKind",
    "SweepProcessor",
    "SweepState",
    "SweepTarget",
    "awaiting_signature",
    "cancel_sweep",
    "plan_document",
    "plan_sweeps",
    "signed_document",
    "submit_signed",
]
