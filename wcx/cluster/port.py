"""The command port of a process on the replicated log: reads from a local replica, commands to the leader.

Gateways (and the admin and wallet roles) hold their own `Replica`; an `all` process on JOURNAL_URL
uses its engine node's. `submit` sends the commands with fresh command ids to the leader named in
the lease, retrying the same ids on timeouts, missing responders and leader changes until the
submit deadline (the leaders deduplicate by id, so a retry never applies a command twice), then
waits until the local replica applied the answer's seq, so reads right after an acknowledgement
see it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

from wcx.cluster import wire
from wcx.cluster.lease import KEY
from wcx.cluster.log import connect, ensure_log, lease_bucket, snapshot_bucket
from wcx.cluster.node import NOT_LEADER, EngineNode, NotLeaderError
from wcx.cluster.replica import Listener, Replica
from wcx.cluster.settings import ClusterSettings
from wcx.cluster.snapshots import SnapshotStore
from wcx.engine import Command, Engine, Event

logger = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.05


class ClusterUnavailableError(RuntimeError):
    """No leader acknowledged the commands within the submit deadline."""


class ClusterRejectedError(RuntimeError):
    """The leader refused the request itself (a bug on the sending side, never a market condition)."""


class ClusterPort:
    """`engine` (a replica) for reads, `submit`/`submit_many` for commands, listeners for events."""

    def __init__(self, settings: ClusterSettings, *, node: EngineNode | None = None) -> None:
        self.settings = settings
        self.node = node
        self.retries = 0
        self._nc: NatsClient | None = None
        self._replica: Replica | None = None
        self._kv: object | None = None
        self._subject: str | None = None
        self._owns_connection = node is None

    @property
    def replica(self) -> Replica:
        """The replica reads come from."""
        assert self._replica is not None, "port not started"
        return self._replica

    @property
    def engine(self) -> Engine:
        """The local replica's engine (read on the event-loop thread only)."""
        return self.replica.engine

    @property
    def last_seq(self) -> int:
        """The seq the local replica has applied."""
        return self.engine.state.last_seq

    def add_listener(self, listener: Listener) -> None:
        """Receive each applied batch's events."""
        if self.node is not None:
            self.node.listeners.append(listener)
        else:
            self.replica.listeners.append(listener)

    async def start(self) -> None:
        """Connect (or share the node's connection), load the newest snapshot and follow the log."""
        if self.node is not None:
            self._nc, self._replica = self.node.nc, self.node.replica
            self._kv = await lease_bucket(self.node.js, self.settings)
            return
        nc = self._nc = await connect(self.settings, name=f"wcx-gateway-{self.settings.node_id}")
        js = nc.jetstream(timeout=self.settings.publish_timeout_s)
        await ensure_log(js, self.settings)
        self._kv = await lease_bucket(js, self.settings)
        snapshots = SnapshotStore(await snapshot_bucket(js, self.settings), keep=self.settings.snapshot_keep)
        replica = self._replica = Replica(js, self.settings)
        await replica.load(snapshots)
        await replica.follow()
        await replica.catch_up(timeout=60)

    async def stop(self) -> None:
        """Stop following and close the connection (a node's connection is the node's to close)."""
        if self._owns_connection:
            if self._replica is not None:
                await self._replica.stop()
            if self._nc is not None:
                await self._nc.drain()

    async def submit(self, command: Command) -> list[Event]:
        """Sequence one command through the leader; its events once durable and applied locally."""
        return (await self.submit_many([command]))[0]

    async def submit_many(self, commands: Sequence[Command]) -> list[list[Event]]:
        """Sequence commands in order through the leader; their events, one list per command."""
        if not commands:
            return []
        ids = [uuid.uuid4().hex for _ in commands]
        reply = await self._send(commands, ids)
        if not await self.replica.wait_for_seq(reply.seq, self.settings.submit_deadline_s):
            raise ClusterUnavailableError(f"local replica did not reach seq {reply.seq}")
        return reply.events

    async def _send(self, commands: Sequence[Command], ids: list[str]) -> wire.SubmitReply:
        payload = wire.encode(wire.SubmitRequest(ids, list(commands)))
        deadline = time.monotonic() + self.settings.submit_deadline_s
        while True:
            problem = ""
            node = self.node
            if node is not None and node.is_leader:
                try:
                    return await node.submit(commands, ids)
                except NotLeaderError as exc:
                    problem = f"local node stepped down: {exc}"
            else:
                subject = await self._leader_subject()
                if subject is None:
                    problem = "no leader holds the lease"
                else:
                    try:
                        msg = await self.nc.request(subject, payload, timeout=self.settings.request_timeout_s)
                    except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                        problem = f"{subject}: {exc!r}"
                        self._subject = None
                    else:
                        reply = wire.decode_reply(msg.data)
                        if not reply.error:
                            return reply
                        if reply.error != NOT_LEADER:
                            raise ClusterRejectedError(reply.error)
                        problem = f"{subject}: not the leader"
                        self._subject = None
            if time.monotonic() >= deadline:
                raise ClusterUnavailableError(f"commands not acknowledged: {problem}")
            self.retries += 1
            logger.info("retrying %d commands: %s", len(ids), problem)
            await asyncio.sleep(RETRY_PAUSE_S)

    @property
    def nc(self) -> NatsClient:
        """The NatsClient connection requests go out on."""
        assert self._nc is not None, "port not started"
        return self._nc

    async def _leader_subject(self) -> str | None:
        """The current leader's submit subject, from the lease (cached until a request fails)."""
        if self._subject is not None:
            return self._subject
        try:
            entry = await self._kv.get(KEY)  # type: ignore[attr-defined]
        except (nats.js.errors.KeyNotFoundError, nats.errors.Error, nats.js.errors.Error):
            return None
        if not entry.value or entry.operation is not None:
            return None
        self._subject = wire.decode_lease(entry.value).submit
        return self._subject
