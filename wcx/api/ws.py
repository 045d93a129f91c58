"""The `/ws` endpoint: public market channels, and the caller's own account channel after login.

Client → server (JSON text frames; an optional "id" is echoed in the reply):
  {"op":"subscribe","channels":["book.BTC-USDT","trades.BTC-USDT","ticker.BTC-USDT","candles.BTC-USDT.1m",
                                "account"]}
  {"op":"unsubscribe","channels":[...]}
  {"op":"login", ...}   credentials as `wcx.api.auth.authenticate_ws` takes them (token or signed key)
  {"op":"ping"}
Server → client: {"type":"subscribed"|"unsubscribed","channels":[...]}, {"type":"login","user_id"},
{"type":"pong"}, {"type":"heartbeat"} every 15 s, {"type":"error","code","message"[,"channel"]} with
code UNKNOWN_CHANNEL | UNAUTHENTICATED | PERMISSION_DENIED | BAD_MESSAGE | UNAVAILABLE, and the
channel messages described in `wcx.stream.publisher`.

Subscribing to `book.<SYMBOL>` first sends {"type":"book_snapshot","symbol","seq","bids","asks"} (the
best 100 levels), then only diffs with seq > the snapshot's; the first has prev_seq == snapshot seq
and each next one prev_seq == the previous diff's seq. A client that sees another prev_seq missed a
diff and should resubscribe. `ticker.<SYMBOL>` starts with the current ticker, `candles.<SYMBOL>.<1m|5m|
15m|1h|4h|1d>` with the current candle once there was a trade, `account` with
{"type":"account_snapshot","seq","balances","orders"} (account messages with seq <= it are skipped).

A logged-in connection re-checks its login every 30 s: once the session behind a token has ended
(logout, password change, revocation) or the API key is revoked, or the account is frozen, it is
closed with code 1008 and the error code (SESSION_REVOKED, API_KEY_REVOKED, ACCOUNT_FROZEN) as reason.

Every connection has a bounded outbound queue: a client that does not read fast enough is closed
with code 1013 instead of the server buffering for it without bound. Frames are not compressed:
`wcx serve` declines permessage-deflate, which would compress every diff once per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from wcx.api.errors import ApiError
from wcx.api.principal import Permission, Principal
from wcx.stream import BusError, Publisher, Subscription, account_channel

logger = logging.getLogger(__name__)

router = APIRouter()

CLOSE_SLOW_CONSUMER = 1013
CLOSE_SERVER_ERROR = 1011
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008


class Authenticator(Protocol):
    """Checks a login message (the signature of `wcx.api.auth.authenticate_ws`)."""

    def __call__(
        self, runtime: Any, message: dict[str, Any], client_ip: str | None = None
    ) -> Awaitable[Principal]:
        """The principal, or raise ApiError."""
        ...


class Rechecker(Protocol):
    """Whether a logged-in principal is still valid (the signature of `wcx.api.auth.principal_refusal`)."""

    def __call__(self, runtime: Any, principal: Principal) -> Awaitable[str]:
        """ "" while valid, else the error code ending it."""
        ...


@dataclass(frozen=True, slots=True)
class WsOptions:
    """Tunables of the endpoint; an app may set `app.state.ws_options` to override the defaults."""

    heartbeat_s: float = 15.0
    outbound_queue: int = 1024
    snapshot_depth: int | None = 100
    max_channels: int = 100
    max_message_bytes: int = 16_384
    close_timeout_s: float = 2.0
    recheck_s: float = 30.0


@dataclass(frozen=True, slots=True)
class _Target:
    name: str  # as the client names it
    channel: str  # on the bus
    kind: str
    symbol: str = ""


class _ChannelError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _authenticator(websocket: WebSocket) -> Authenticator:
    """The login check: one injected into `app.state.ws_authenticate`, else the auth package's."""
    injected: Authenticator | None = getattr(websocket.app.state, "ws_authenticate", None)
    if injected is not None:
        return injected
    from wcx.api.auth import authenticate_ws  # the auth package imports the API; import it when needed

    return authenticate_ws


def _rechecker(websocket: WebSocket) -> Rechecker | None:
    """The periodic login check: one injected into `app.state.ws_recheck`, else the auth package's, unless
    a different login check was injected (its principals are not the auth package's to judge)."""
    state = websocket.app.state
    injected: Rechecker | None = getattr(state, "ws_recheck", None)
    if injected is not None or getattr(state, "ws_authenticate", None) is not None:
        return injected
    from wcx.api.auth import principal_refusal  # imported when needed, as in `_authenticator`

    return principal_refusal


def _seq(payload: bytes) -> int:
    seq = orjson.loads(payload).get("seq", 0)
    return seq if isinstance(seq, int) else 0


class _Connection:
    """One client: a receive loop, a sender draining the bounded outbound queue, a heartbeat.

    Subscriptions feed the outbound queue synchronously from the bus (no task per subscription), so
    a message published to a thousand subscribers costs one wake-up of each connection's sender.
    """

    def __init__(self, websocket: WebSocket, runtime: Any, options: WsOptions) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.publisher: Publisher = runtime.publisher
        self.options = options
        self.outbound: asyncio.Queue[bytes] = asyncio.Queue(options.outbound_queue)
        self.subscriptions: dict[str, Subscription] = {}
        self.principal: Principal | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        await self.websocket.accept()
        for body in (self._receive(), self._send(), self._heartbeat()):
            self._tasks.append(asyncio.create_task(self._guard(body)))
        try:
            await self._done.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for name in list(self.subscriptions):
                await self._drop_subscription(name)
            if self.close_code is not None:
                await self._close()

    def finish(self, code: int | None, reason: str = "") -> None:
        """End the connection; with a code, the server closes it (None: the client already left)."""
        if not self._done.is_set():
            self.close_code, self.close_reason = code, reason
            self._done.set()

    async def _close(self) -> None:
        assert self.close_code is not None
        # A client that stopped reading may never let the close frame out; give up after a while.
        with contextlib.suppress(TimeoutError, RuntimeError, OSError, WebSocketDisconnect):
            await asyncio.wait_for(
                self.websocket.close(self.close_code, self.close_reason), self.options.close_timeout_s
            )

    async def _guard(self, body: Coroutine[Any, Any, None]) -> None:
        try:
            await body
        except (WebSocketDisconnect, OSError):
            self.finish(None)
        except Exception:
            logger.exception("websocket connection failed")
            self.finish(CLOSE_SERVER_ERROR, "internal error")

    # -- outbound ----------------------------------------------------------------------------

    def push(self, payload: bytes) -> None:
        """Queue a message for the client, or drop the client if its queue is full."""
        if self._done.is_set():
            return
        try:
            self.outbound.put_nowait(payload)
        except asyncio.QueueFull:
            self.finish(CLOSE_SLOW_CONSUMER, "slow consumer")

    def reply(self, message: dict[str, Any], request_id: object = None) -> None:
        """Queue a control message, echoing the request's id if it had one."""
        if request_id is not None:
            message["id"] = request_id
        self.push(orjson.dumps(message))

    def error(self, code: str, message: str, request_id: object = None, **extra: Any) -> None:
        """Queue an error message."""
        self.reply({"type": "error", "code": code, "message": message, **extra}, request_id)

    async def _send(self) -> None:
        send, get = self.websocket.send, self.outbound.get
        while True:
            payload = await get()
            await send({"type": "websocket.send", "text": payload.decode()})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            self.push(b'{"type":"heartbeat"}')

    # -- inbound -----------------------------------------------------------------------------

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.finish(None)
                return
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            await self._handle(raw)

    async def _handle(self, raw: str | bytes) -> None:
        if len(raw) > self.options.max_message_bytes:
            self.error("BAD_MESSAGE", f"messages are limited to {self.options.max_message_bytes} bytes")
            return
        try:
            request = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.error("BAD_MESSAGE", "messages must be JSON objects")
            return
        if not isinstance(request, dict):
            self.error("BAD_MESSAGE", "messages must be JSON objects")
            return
        request_id = request.get("id")
        if not isinstance(request_id, int | str) or isinstance(request_id, bool):
            request_id = None
        op = request.get("op")
        if op == "ping":
            self.reply({"type": "pong"}, request_id)
        elif op == "subscribe":
            await self._subscribe(request, request_id)
        elif op == "unsubscribe":
            await self._unsubscribe(request, request_id)
        elif op == "login":
            await self._login(request, request_id)
        else:
            self.error("BAD_MESSAGE", "op must be one of subscribe, unsubscribe, login, ping", request_id)

    def _channel_names(self, request: dict[str, Any], request_id: object) -> list[str] | None:
        channels = request.get("channels")
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(name, str) and len(name) <= 64 for name in channels)
        ):
            self.error("BAD_MESSAGE", "channels must be a non-empty list of channel names", request_id)
            return None
        return list(dict.fromkeys(channels))

    def _resolve(self, name: str) -> _Target:
        kind, _, rest = name.partition(".")
        if kind == "account":
            principal = self.principal
            if principal is None:
                raise _ChannelError("UNAUTHENTICATED", "log in before subscribing to the account channel")
            if rest and rest != str(principal.user_id):
                raise _ChannelError("UNKNOWN_CHANNEL", f"no such channel: {name}")
            if not principal.can(Permission.READ):
                raise _ChannelError("PERMISSION_DENIED", "the account channel needs the read permission")
            return _Target("account", account_channel(principal.user_id), "account")
        public = self.publisher.public_channel(name)
        if public is None:
            raise _ChannelError("UNKNOWN_CHANNEL", f"no such channel: {name}")
        return _Target(name, name, *public)

    async def _subscribe(self, request: dict[str, Any], request_id: object) -> None:
        names = self._channel_names(request, request_id)
        if names is None:
            return
        accepted: list[str] = []
        new: list[_Target] = []
        for name in names:
            try:
                target = self._resolve(name)
            except _ChannelError as exc:
                self.error(exc.code, exc.message, request_id, channel=name)
                continue
            if target.name not in self.subscriptions and target not in new:
                if len(self.subscriptions) + len(new) >= self.options.max_channels:
                    self.error(
                        "BAD_MESSAGE",
                        f"at most {self.options.max_channels} channels",
                        request_id,
                        channel=name,
                    )
                    continue
                new.append(target)
            accepted.append(target.name)
        if accepted:
            self.reply({"type": "subscribed", "channels": list(dict.fromkeys(accepted))}, request_id)
        for target in new:
            await self._open(target, request_id)

    async def _open(self, target: _Target, request_id: object) -> None:
        try:
            subscription = await self.runtime.bus.subscribe(target.channel)
        except BusError:
            logger.warning("could not subscribe to %s", target.channel, exc_info=True)
            self.error(
                "UNAVAILABLE", "the stream is unavailable, retry later", request_id, channel=target.name
            )
            return
        # No await from here on: the snapshot must be taken while nothing is published.
        snapshot = self._snapshot(target)
        after_seq = None
        if snapshot is not None:
            after_seq, payload = snapshot
            self.push(payload)
        self.subscriptions[target.name] = subscription
        subscription.forward_to(self._forwarder(after_seq), lambda: self._stream_ended(target.name))

    def _snapshot(self, target: _Target) -> tuple[int, bytes] | None:
        if target.kind == "book":
            return self.publisher.book_snapshot(target.symbol, self.options.snapshot_depth)
        if target.kind == "ticker":
            return self.publisher.ticker_snapshot(target.symbol)
        if target.kind == "candles":
            return self.publisher.candle_snapshot(target.symbol, target.name.rpartition(".")[2])
        if target.kind == "account":
            assert self.principal is not None
            return self.publisher.account_snapshot(self.principal.user_id)
        return None

    def _forwarder(self, after_seq: int | None) -> Callable[[bytes], None]:
        """The bus sink of one subscription: what the snapshot already had is skipped, the rest queued."""
        if after_seq is None:
            return self.push

        def forward(payload: bytes) -> None:
            nonlocal after_seq
            if after_seq is not None:
                # The bus keeps order, so only the first few payloads are parsed.
                if _seq(payload) <= after_seq:
                    return
                after_seq = None
            self.push(payload)

        return forward

    def _stream_ended(self, name: str) -> None:
        # Our own unsubscribe removed the name first; anything else is the bus going away.
        if name in self.subscriptions:
            self.finish(CLOSE_GOING_AWAY, "stream closed")

    async def _drop_subscription(self, name: str) -> None:
        await self.subscriptions.pop(name).close()

    async def _unsubscribe(self, request: dict[str, Any], request_id: object) -> None:
        names = self._channel_names(request, request_id)
        if names is None:
            return
        removed: list[str] = []
        for name in names:
            try:
                target = self._resolve(name)
            except _ChannelError as exc:
                self.error(exc.code, exc.message, request_id, channel=name)
                continue
            if target.name in self.subscriptions:
                await self._drop_subscription(target.name)
            removed.append(target.name)
        if removed:
            self.reply({"type": "unsubscribed", "channels": removed}, request_id)

    async def _login(self, request: dict[str, Any], request_id: object) -> None:
        if self.principal is not None:
            self.error("BAD_MESSAGE", "already logged in", request_id)
            return
        authenticate = _authenticator(self.websocket)
        try:
            client = self.websocket.client
            principal = await authenticate(self.runtime, request, client.host if client else None)
        except ApiError as exc:
            self.error("UNAUTHENTICATED", exc.message, request_id)
            return
        self.principal = principal
        self.reply({"type": "login", "user_id": principal.user_id}, request_id)
        recheck = _rechecker(self.websocket)
        if recheck is not None:
            self._tasks.append(asyncio.create_task(self._guard(self._recheck(principal, recheck))))

    async def _recheck(self, principal: Principal, recheck: Rechecker) -> None:
        while True:
            await asyncio.sleep(self.options.recheck_s)
            refusal = await recheck(self.runtime, principal)
            if refusal:
                self.finish(CLOSE_POLICY_VIOLATION, refusal)
                return


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """Market and account streams (protocol in this module's docstring)."""
    options = getattr(websocket.app.state, "ws_options", None) or WsOptions()
    await _Connection(websocket, websocket.app.state.runtime, options).run()
