"""Admin listener settings (env / `.env` / secret files, prefix `ADMIN_`)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AdminSettings(BaseSettings):
    """Session lifetimes, the listener-wide IP allowlist and four-eyes parameters."""

    model_config = SettingsConfigDict(
        env_prefix="ADMIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    session_idle_s: int = Field(15 * 60, gt=0)
    """A session unused for this long ends (short sessions: admins act with real money)."""
    session_max_s: int = Field(8 * 3600, gt=0)
    """No session outlives this, however active."""
    ip_allowlist: Annotated[list[str], NoDecode] = []
    """Comma-separated networks (CIDR) allowed to reach the admin listener at all; empty = anywhere."""
    approval_ttl_s: int = Field(24 * 3600, gt=0)
    """A four-eyes request not approved within this time expires."""

    @field_validator("ip_allowlist", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for entry in value:
                ipaddress.ip_network(str(entry), strict=False)  # ValueError names the bad entry
        return value

    def networks(self) -> list[Network]:
        """The allowlist as parsed networks."""
        return networks_of(self.ip_allowlist)


def networks_of(entries: list[str]) -> list[Network]:
    """CIDR strings (or bare addresses) as networks; ValueError names a bad entry."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def ip_allowed(ip: str | None, networks: list[Network]) -> bool:
    """Whether `ip` is inside one of `networks` (an empty list allows every address)."""
    if not networks:
        return True
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)
