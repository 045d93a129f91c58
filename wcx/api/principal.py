"""Who is calling: the authenticated principal every private endpoint receives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    """What an API key may do; sessions (access tokens) have all three."""

    READ = "read"
    TRADE = "trade"
    WITHDRAW = "withdraw"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, by access token (`api_key_id` None) or by API key."""

    user_id: int
    permissions: frozenset[Permission]
    api_key_id: int | None = None
    session_id: str | None = None

    def can(self, permission: Permission) -> bool:
        """Whether this principal holds `permission`."""
        return permission in self.permissions
