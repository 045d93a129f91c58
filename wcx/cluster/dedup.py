"""Recent command ids and their outcome, so a gateway's retry is answered instead of applied twice.

Every engine replica builds the same table from the log (each record carries its command id), so
the follower that takes over knows what the old leader already appended.
"""

from __future__ import annotations

from collections import OrderedDict

from wcx.engine import Event


class RecentCommands:
    """The newest `capacity` command ids with the seq and events of their command."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._known: OrderedDict[str, tuple[int, list[Event]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._known)

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._known

    def get(self, command_id: str) -> tuple[int, list[Event]] | None:
        """(seq, events) of an applied command, or None."""
        return self._known.get(command_id)

    def record(self, command_id: str, seq: int, events: list[Event]) -> None:
        """Remember an applied command (commands without an id are not remembered)."""
        if not command_id:
            return
        self._known[command_id] = (seq, events)
        if len(self._known) > self.capacity:
            self._known.popitem(last=False)

    def export(self) -> list[tuple[str, int, list[Event]]]:
        """Everything remembered, oldest first (for snapshots)."""
        return [(command_id, seq, events) for command_id, (seq, events) in self._known.items()]

    def load(self, entries: list[tuple[str, int, list[Event]]]) -> None:
        """Add exported entries (oldest first)."""
        for command_id, seq, events in entries:
            self.record(command_id, seq, events)
