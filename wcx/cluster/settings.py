"""Cluster settings: where the replicated command log lives and how fast leadership moves."""

from __future__ import annotations

import os
import socket
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.journal.snapshots import DEFAULT_KEEP, SNAPSHOT_EVERY


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ClusterSettings(BaseSettings):
    """JOURNAL_URL and the JetStream/lease knobs (env, `.env`; prefix-free like the main settings)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    journal_url: str = ""
    """`nats://host:4222[,nats://host2:4222…]` puts the command log on JetStream; empty = local files."""
    cluster_name: str = Field("wcx", pattern=r"^[A-Za-z0-9_-]+$")
    """Prefix of every stream, bucket and subject: several exchanges can share one NATS system."""
    node_id: str = Field(default_factory=_default_node_id, pattern=r"^[A-Za-z0-9_.-]+$")
    log_replicas: int = Field(1, ge=1, le=5)
    """JetStream replicas of the log, lease and snapshot buckets (3 in production)."""
    lease_ttl_s: float = Field(5.0, gt=0)
    """A leader whose lease was not renewed for this long is presumed dead and replaced."""
    lease_renew_s: float = Field(1.0, gt=0)
    request_timeout_s: float = Field(2.0, gt=0)
    """How long a gateway waits for the leader's answer before retrying (same command id)."""
    submit_deadline_s: float = Field(30.0, gt=0)
    """How long a gateway keeps retrying one command across leader changes before giving up."""
    publish_timeout_s: float = Field(2.0, gt=0)
    publish_deadline_s: float = Field(20.0, gt=0)
    """How long the leader retries one log append (a NATS node may be failing over) before stepping down."""
    snapshot_every: int = Field(SNAPSHOT_EVERY, ge=1)
    snapshot_keep: int = Field(DEFAULT_KEEP, ge=1)
    dedup_window: int = Field(20_000, ge=1)
    """Recent command ids (with their events) remembered for retries across leader changes."""
    max_batch: int = Field(1000, ge=1)
    """Commands per log message at most (NATS caps a message at 1 MiB by default)."""

    @model_validator(mode="after")
    def _renew_inside_ttl(self) -> ClusterSettings:
        if self.lease_renew_s * 2 > self.lease_ttl_s:
            raise ValueError("LEASE_RENEW_S must be at most half of LEASE_TTL_S")
        return self

    @property
    def enabled(self) -> bool:
        """Whether JOURNAL_URL points at NATS."""
        return self.journal_url.startswith(("nats://", "tls://"))

    @property
    def servers(self) -> list[str]:
        """The NATS server URLs of JOURNAL_URL."""
        return [url.strip() for url in self.journal_url.split(",") if url.strip()]

    @property
    def stream(self) -> str:
        """Name of the command log stream."""
        return f"{self.cluster_name.upper()}_LOG"

    @property
    def log_subject(self) -> str:
        """The one subject of the command log."""
        return f"{self.cluster_name}.log"

    @property
    def lease_bucket(self) -> str:
        """KV bucket holding the leader lease."""
        return f"{self.cluster_name}_lease"

    @property
    def snapshot_bucket(self) -> str:
        """Object store bucket of engine snapshots."""
        return f"{self.cluster_name}_snapshots"

    def submit_subject(self, node_id: str) -> str:
        """Where a leader takes commands from gateways."""
        return f"{self.cluster_name}.engine.{node_id}.submit"

    def status_subject(self, node_id: str) -> str:
        """Where an engine node answers status requests (role, term, seq, state hash)."""
        return f"{self.cluster_name}.engine.{node_id}.status"

    @property
    def status_all_subject(self) -> str:
        """Every engine node answers status requests here too (for `wcx cluster status`)."""
        return f"{self.cluster_name}.engine.status"

    def events_subject(self, kind: str, key: str) -> str:
        """Live events: kind `market` (per symbol) or `account` (per account id)."""
        return f"{self.cluster_name}.events.{kind}.{key}"


def load_cluster_settings(**overrides: Any) -> ClusterSettings:
    """Read the cluster settings from env and `.env` (overrides win)."""
    return ClusterSettings(**overrides)
