"""The automatic sweeper: the second key source behind the same planning, checks and broadcasting. Every
`SWEEP_INTERVAL_S` it plans, signs the planned sweeps with keys of the HSM-sealed deposit seed and
submits them through the same offline checks as a ceremony's file; the sweep processor broadcasts.

A sweep whose address is not derived from the deposit seed (e.g. addresses under the cold wallet's
xpub) is left planned for the ceremony, with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from embit.psbt import PSBT
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from wcx.observability.logging import get_logger
from wcx.wallet.sweeps.documents import signed_document
from wcx.wallet.sweeps.ethereum import decode_transaction
from wcx.wallet.sweeps.planner import SweepTarget, plan_sweeps
from wcx.wallet.sweeps.processor import run_rounds
from wcx.wallet.sweeps.records import Sweep
from wcx.wallet.sweeps.seed import DepositKeys
from wcx.wallet.sweeps.service import awaiting_signature, submit_signed
from wcx.wallet.sweeps.signing import (
    KeyFor,
    SignedSweep,
    SigningRefusedError,
    sign_consolidation,
    sign_ethereum_sweep,
)
from wcx.wallet.sweeps.states import SweepKind

log = get_logger(__name__)


class AutoSweepSettings(BaseSettings):
    """DEPOSIT_SEED_FILE (unset: no automatic sweeps) and SWEEP_INTERVAL_S; the HSM is the hot key's."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    deposit_seed_file: str = ""
    sweep_interval_s: float = Field(3600.0, gt=0)


def sign_sweep(sweep: Sweep, key_for: KeyFor) -> SignedSweep:
    """Sign a planned deposit sweep with the keys of `key_for`; SigningRefusedError on any mismatch."""
    if sweep.kind is SweepKind.CONSOLIDATION:
        inputs = [(i.address, i.key_index) for i in sweep.inputs]
        psbt = PSBT.from_string(sweep.unsigned_tx)
        return sign_consolidation(key_for, sweep_id=sweep.id, psbt=psbt, inputs=inputs, to=sweep.to_address)
    return sign_ethereum_sweep(
        key_for,
        sweep_id=sweep.id,
        kind=sweep.kind.value,
        source=sweep.from_address,
        index=sweep.inputs[0].key_index,
        tx=decode_transaction(sweep.unsigned_tx),
        to=sweep.to_address,
        amount=sweep.amount,
    )


class AutoSweeper:
    """Plans and signs sweeps of `targets` with the deposit seed; the sweep processor sends them."""

    def __init__(self, db: AsyncEngine, targets: Sequence[SweepTarget], keys: DepositKeys) -> None:
        self.db = db
        self.targets = {target.spec.name: target for target in targets}
        self.keys = keys

    async def run_once(self) -> list[Sweep]:
        """Plan every chain, sign what waits for a signature, submit it; the sweeps now signed."""
        for target in self.targets.values():
            await plan_sweeps(self.db, target)
        signed = []
        for sweep in await awaiting_signature(self.db):
            target = self.targets.get(sweep.chain)
            if target is None or sweep.to_address != target.hot_address:
                continue  # another chain, or planned for another hot wallet: the ceremony decides
            try:
                done = await asyncio.to_thread(sign_sweep, sweep, self.keys.key_for(target.spec))
            except SigningRefusedError as exc:
                log.warning("sweep left for the ceremony", sweep=sweep.id, reason=str(exc))
                continue
            signed.append((done.id, done.hash, done.raw))
        if not signed:
            return []
        return await submit_signed(self.db, signed_document(signed))

    async def run_forever(self, stop: asyncio.Event, interval_s: float) -> None:
        """A round every `interval_s` until `stop`; failures are logged and retried next round."""
        await run_rounds(self.run_once, stop, interval_s, "automatic sweeps")
