"""The journal's sync helper process: syncs on request, reports failures, exits with its server."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wcx.journal.sync_process import SyncProcess, SyncProcessError


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _held_files(pid: int) -> set[str]:
    return {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}


def test_it_syncs_the_file_it_was_given_and_follows_a_new_one(tmp_path: Path) -> None:
    first, second = tmp_path / "a.wal", tmp_path / "b.wal"

    async def scenario() -> tuple[list[float], set[str], set[str]]:
        helper = SyncProcess()
        await helper.start()
        try:
            assert helper.pid is not None
            with first.open("wb") as a, second.open("wb") as b:
                a.write(b"x" * 10_000)
                a.flush()
                seconds = [await helper.sync(a.fileno(), 1), await helper.sync(a.fileno(), 1)]
                held_first = _held_files(helper.pid)
                b.write(b"y")
                b.flush()
                seconds.append(await helper.sync(b.fileno(), 2))
                held_second = _held_files(helper.pid)
        finally:
            await helper.stop()
        return seconds, held_first, held_second

    seconds, held_first, held_second = asyncio.run(scenario())
    assert all(0 <= s < 10 for s in seconds)
    assert str(first) in held_first and str(second) not in held_first
    assert str(second) in held_second and str(first) not in held_second


def test_a_failed_fdatasync_fails_only_its_request(tmp_path: Path) -> None:
    async def scenario() -> float:
        helper = SyncProcess()
        await helper.start()
        reader, writer = os.pipe()
        try:
            with pytest.raises(OSError) as refused:
                await helper.sync(reader, 1)
            assert refused.value.errno == errno.EINVAL
            with (tmp_path / "a.wal").open("wb") as handle:
                return await helper.sync(handle.fileno(), 2)
        finally:
            os.close(reader)
            os.close(writer)
            await helper.stop()

    assert asyncio.run(scenario()) >= 0


def test_a_dead_helper_fails_what_is_pending_and_what_follows(tmp_path: Path) -> None:
    async def scenario() -> None:
        helper = SyncProcess()
        await helper.start()
        assert helper.pid is not None
        with (tmp_path / "a.wal").open("wb") as handle:
            await helper.sync(handle.fileno(), 1)
            os.kill(helper.pid, signal.SIGSTOP)
            pending = helper.sync(handle.fileno(), 1)
            os.kill(helper.pid, signal.SIGKILL)
            with pytest.raises(SyncProcessError, match="sync process exited"):
                await asyncio.wait_for(pending, 10)
            with pytest.raises(SyncProcessError, match="sync process exited"):
                await helper.sync(handle.fileno(), 1)
        await helper.stop()

    asyncio.run(scenario())


def test_stop_ends_the_helper() -> None:
    async def scenario() -> int:
        helper = SyncProcess()
        await helper.start()
        pid = helper.pid
        assert pid is not None and _alive(pid)
        await helper.stop()
        assert helper.pid is None
        return pid

    assert not _alive(asyncio.run(scenario()))


def test_the_helper_exits_when_its_server_is_killed() -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import asyncio, sys\n"
            "from wcx.journal.sync_process import SyncProcess\n"
            "async def main():\n"
            "    helper = SyncProcess()\n"
            "    await helper.start()\n"
            "    print(helper.pid, flush=True)\n"
            "    await asyncio.to_thread(sys.stdin.read)\n"
            "asyncio.run(main())\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    pid = int(server.stdout.readline())
    assert _alive(pid)
    server.kill()
    server.wait(10)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid), "the sync helper outlived its server"
    assert server.stdin is not None
    server.stdin.close()
    server.stdout.close()
