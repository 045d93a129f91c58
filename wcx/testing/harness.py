"""An engine with automatic sequence numbers and shorthand for common set-ups."""

from __future__ import annotations

from wcx.bootstrap import setup_commands
from wcx.config.markets import ReferenceData, load_reference_data
from wcx.engine import Command, CreditDeposit, Engine, Event
from wcx.engine.state import SYSTEM_ACCOUNTS


class EngineHarness:
    """Feeds commands to an Engine with seq = 1, 2, … and ts = seq × 1000; keeps the log."""

    def __init__(self, data: ReferenceData | None = None) -> None:
        self.engine = Engine()
        self.seq = 0
        self.log: list[tuple[int, int, Command]] = []
        self.data = data if data is not None else load_reference_data()
        for command in setup_commands(self.data):
            self.apply(command)

    def apply(self, command: Command) -> list[Event]:
        """Sequence and apply one command."""
        self.seq += 1
        ts = self.seq * 1000
        self.log.append((self.seq, ts, command))
        return self.engine.apply(self.seq, ts, command)

    def fund(self, account: int, asset: str, amount: int) -> None:
        """Deposit `amount` minor units into an account."""
        self.apply(CreditDeposit(account, asset, amount, f"fund-{self.seq + 1}"))

    def balance(self, account: int, asset: str) -> tuple[int, int]:
        """(available, held)."""
        return self.engine.state.balance(account, asset)

    def total(self, asset: str) -> int:
        """Σ(available + held) over every account, system ones included: always 0."""
        return sum(
            a.available.get(asset, 0) + a.held.get(asset, 0) for a in self.engine.state.accounts.values()
        )

    def replay(self) -> Engine:
        """A fresh engine fed the same log."""
        engine = Engine()
        for seq, ts, command in self.log:
            engine.apply(seq, ts, command)
        return engine


__all__ = ["SYSTEM_ACCOUNTS", "EngineHarness"]
