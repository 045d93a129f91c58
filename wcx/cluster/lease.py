"""The leader lease: one KV key, taken and renewed by compare-and-set on its revision.

The revision at which a node took the key is its term (the fencing token written into every log
batch). Expiry is observed, not clocked: a contender that sees the same revision for `lease_ttl_s`
of its own monotonic time presumes the holder dead and replaces the entry with `update(last=that
revision)`; of several contenders exactly one wins. No wall clocks are compared between machines.
"""

from __future__ import annotations

import logging
import time

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from wcx.cluster import wire

logger = logging.getLogger(__name__)

KEY = "leader"


class LeaseLostError(RuntimeError):
    """Another node holds the lease now."""


class Lease:
    """One node's view of the leader lease."""

    def __init__(self, kv: KeyValue, *, node: str, submit: str, ttl: float) -> None:
        self.kv = kv
        self.node = node
        self.submit = submit
        self.ttl = ttl
        self.term = 0
        self.revision = 0
        self.renewed_at = 0.0
        self._seen_revision: int | None = None
        self._seen_at = 0.0

    async def current(self) -> tuple[wire.LeaseValue | None, int]:
        """The lease entry (None when there is none or it was released) and its revision."""
        try:
            entry = await self.kv.get(KEY)
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        if entry.value is None or entry.operation is not None or not entry.value:
            return None, int(entry.revision or 0)
        return wire.decode_lease(entry.value), int(entry.revision or 0)

    async def try_acquire(self) -> bool:
        """Take the lease if it is free or its holder stopped renewing it for `ttl`; True when taken."""
        value, revision = await self.current()
        now = time.monotonic()
        if value is not None and value.node != self.node:
            if revision != self._seen_revision:
                self._seen_revision, self._seen_at = revision, now
                return False
            if now - self._seen_at < self.ttl:
                return False
            logger.warning("lease of %s not renewed for %.1fs; taking over", value.node, self.ttl)
        # The revision this compare-and-set creates is the new term: strictly greater than any before.
        value_bytes = wire.encode(wire.LeaseValue(self.node, self.submit))
        try:
            if revision == 0:
                self.revision = await self.kv.create(KEY, value_bytes)
            else:
                self.revision = await self.kv.update(KEY, value_bytes, last=revision)
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError):
            self._seen_revision = None
            return False
        self.term = self.revision
        self.renewed_at = time.monotonic()
        return True

    async def renew(self) -> None:
        """Extend the lease; raises LeaseLostError when another node took it."""
        try:
            self.revision = await self.kv.update(
                KEY, wire.encode(wire.LeaseValue(self.node, self.submit)), last=self.revision
            )
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.BadRequestError) as exc:
            raise LeaseLostError(f"term {self.term} lost: {exc}") from None
        self.renewed_at = time.monotonic()

    def expired(self) -> bool:
        """Whether this holder failed to renew for so long that others may have taken over."""
        return time.monotonic() - self.renewed_at >= self.ttl

    async def release(self) -> None:
        """Give the lease up at once (a clean shutdown), if still ours."""
        try:
            await self.kv.delete(KEY, last=self.revision)
        except (nats.errors.Error, nats.js.errors.Error):
            logger.debug("lease release failed", exc_info=True)
