"""The journal's fdatasync in a helper process, asked and answered over a socket the event loop watches.

Why not a thread: a sync thread needs the GIL to enter fdatasync and again to report that it returned,
and the event loop holds the GIL while it works. The sequencer had to block until the thread was inside
fdatasync (~0.26 ms a batch at 9,000 commands/s), and the completion waited for the GIL behind the
loop's work. A process has its own interpreter: the loop sends one byte, the helper syncs the shared
file description, and its answer wakes the loop like any socket read.

Protocol (SOCK_SEQPACKET, one message each): `F` carrying a file descriptor (SCM_RIGHTS) makes it the
file to sync from now on; `S` asks for one fdatasync, answered with `<errno, seconds>` (errno 0: done).
fdatasync makes the file's written data durable whichever descriptor names it.

This module imports only the standard library: the helper runs it as a script (`python -I -S`), which
starts in milliseconds instead of importing the exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import time
from collections import deque

_ANSWER = struct.Struct("<id")
_FILE, _SYNC = b"F", b"S"
STOP_TIMEOUT_S = 5.0


class SyncProcessError(OSError):
    """The helper is gone, so nothing more can be made durable."""


class SyncProcess:
    """A helper process that fdatasyncs one file at a time on request; answers arrive on the event loop.

    `start()` on the loop that will call `sync`; requests are answered in order. A failed fdatasync fails
    its future with the OSError; a helper that dies fails every pending and later request.
    """

    def __init__(self) -> None:
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._file: tuple[int, int] | None = None
        self._pending: deque[asyncio.Future[float]] = deque()
        self._failure: SyncProcessError | None = None

    @property
    def pid(self) -> int | None:
        """The helper's process id while it runs."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Spawn the helper and watch its answers on the running loop."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            # Its own session: a Ctrl-C meant for the server must not kill the helper mid-shutdown.
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        ours.setblocking(False)
        self._socket = ours
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(ours.fileno(), self._on_answers)

    def sync(self, fd: int, identity: int) -> asyncio.Future[float]:
        """fdatasync `fd` in the helper; the future gets the seconds it took. `identity` names the file
        behind `fd` (a new one is sent to the helper when it changes, even if the number is reused)."""
        assert self._loop is not None and self._socket is not None, "start first"
        future: asyncio.Future[float] = self._loop.create_future()
        if self._failure is not None:
            future.set_exception(self._failure)
            return future
        try:
            if self._file != (fd, identity):
                socket.send_fds(self._socket, [_FILE], [fd])
                self._file = (fd, identity)
            self._socket.send(_SYNC)
        except OSError as exc:  # a full socket cannot happen: one request is in flight at a time
            self._fail(f"the journal's sync process exited ({exc})")
            future.set_exception(self._failure or exc)
            return future
        self._pending.append(future)
        return future

    def _on_answers(self) -> None:
        assert self._socket is not None
        while True:
            try:
                answer = self._socket.recv(_ANSWER.size)
            except BlockingIOError:
                return
            except OSError as exc:
                self._fail(f"the journal's sync process exited ({exc})")
                return
            if len(answer) != _ANSWER.size:
                self._fail("the journal's sync process exited")
                return
            error, seconds = _ANSWER.unpack(answer)
            future = self._pending.popleft()
            if future.done():
                continue
            if error:
                future.set_exception(OSError(error, os.strerror(error)))
            else:
                future.set_result(seconds)

    def _fail(self, reason: str) -> None:
        self._failure = SyncProcessError(reason)
        if self._loop is not None and self._socket is not None:
            self._loop.remove_reader(self._socket.fileno())
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(self._failure)

    async def stop(self) -> None:
        """Close the socket (the helper exits on end of file) and reap the helper."""
        if self._socket is not None:
            if self._failure is None and self._loop is not None:
                self._loop.remove_reader(self._socket.fileno())
            self._socket.close()
            self._socket = None
        process, self._process = self._process, None
        if process is not None:
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(channel: socket.socket) -> None:
    """The helper: fdatasync the current file on each request until the channel closes."""
    fd = -1
    while True:
        message, fds, _, _ = socket.recv_fds(channel, 16, 1)
        if not message:
            return
        if message == _FILE:
            if fd >= 0:
                os.close(fd)
            fd = fds[0]
            continue
        started = time.perf_counter()
        try:
            os.fdatasync(fd)
        except OSError as exc:
            channel.send(_ANSWER.pack(exc.errno or -1, 0.0))
        else:
            channel.send(_ANSWER.pack(0, time.perf_counter() - started))


if __name__ == "__main__":
    # The server gone (killed, even) shows as end of file or a reset connection: exit quietly.
    with contextlib.suppress(ConnectionError), socket.socket(fileno=int(sys.argv[1])) as channel:
        serve(channel)
