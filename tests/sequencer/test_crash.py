"""Crash test: SIGKILL a sequencing child at random moments; nothing acknowledged may be lost."""

from __future__ import annotations

import logging
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest

from wcx.engine import Engine
from wcx.journal import list_segments, read_records, recover
from wcx.journal.codec import FRAME_HEADER
from wcx.testing.crash_child import command_digest

ROUNDS = 24
KILL_DELAYS = (0.0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35)


class Child:
    """The child process and a thread collecting its complete output lines."""

    def __init__(self, data_dir: Path, seed: int, stderr: IO[bytes]) -> None:
        command = [sys.executable, "-m", "wcx.testing.crash_child", str(data_dir), str(seed)]
        command += ["--segment-bytes", "65536", "--snapshot-every", "2000"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.endswith(b"\n"):  # a line cut by the kill was never fully reported
                self.lines.put(line.decode())

    def kill(self) -> list[str]:
        """SIGKILL the child and return every complete line it printed."""
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(30) == -signal.SIGKILL
        self.reader.join(30)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return [self.lines.get_nowait() for _ in range(self.lines.qsize())]


def append_partial_frame(data_dir: Path) -> tuple[Path, int]:
    """Write the start of a frame at the end of the last segment; return it and its clean size."""
    _, path = list_segments(data_dir)[-1]
    size = path.stat().st_size
    with path.open("ab") as handle:
        handle.write(FRAME_HEADER.pack(120, 0xDEADBEEF) + b"\x5b\x31" * 20)
    return path, size


def check_journal(data_dir: Path, acked: dict[int, str]) -> tuple[int, str]:
    """Every acknowledged command is in the journal unchanged; return a clean replay's seq and hash."""
    engine = Engine()
    for seq, ts, command in read_records(data_dir):
        engine.apply(seq, ts, command)
        expected = acked.get(seq)
        assert expected is None or command_digest(command) == expected, f"seq {seq} changed"
    assert max(acked, default=0) <= engine.state.last_seq, "an acknowledged command was lost"
    return engine.state.last_seq, engine.state_hash()


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_command(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(20240611)
    acked: dict[int, str] = {}
    journal_end = 0
    killed_after_ready = truncated = 0
    deadline = time.monotonic() + 120
    with (tmp_path / "child.err").open("wb") as stderr:
        for round_no in range(ROUNDS):
            assert time.monotonic() < deadline, "crash test is far slower than it should be"
            child = Child(data_dir, seed=round_no, stderr=stderr)
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.4))  # somewhere in start-up and recovery
            else:
                ready = child.lines.get(timeout=60)
                assert ready == f"ready {journal_end}\n", "the child did not continue where the journal ends"
                killed_after_ready += 1
                time.sleep(rng.choice(KILL_DELAYS))
            lines = child.kill()
            if lines and lines[0].startswith("ready"):
                assert lines.pop(0) == f"ready {journal_end}\n"
            for line in lines:
                seq, digest = line.split()
                acked[int(seq)] = digest

            if round_no % 3 == 1 and list_segments(data_dir):
                recover(data_dir)  # first repair a tail the kill itself may have torn
                caplog.clear()
                segment, clean_size = append_partial_frame(data_dir)
                with caplog.at_level(logging.WARNING, logger="wcx.journal"):
                    recovered, last_seq = recover(data_dir)
                assert segment.stat().st_size == clean_size
                assert "truncated torn tail" in caplog.text
                truncated += 1
            else:
                recovered, last_seq = recover(data_dir)
            journal_end, replayed_hash = check_journal(data_dir, acked)
            assert last_seq == journal_end
            assert recovered.state_hash() == replayed_hash

    stderr_text = (tmp_path / "child.err").read_text()
    assert "Traceback" not in stderr_text, stderr_text
    assert killed_after_ready >= 15 and truncated >= 7
    assert len(acked) > 2_000, f"only {len(acked)} acknowledged commands: the test exercised little"
