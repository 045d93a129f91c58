"""The engine is deterministic across processes, hash seeds and builds (pure Python and mypyc)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wcx
from wcx.simulator.engine_bench import engine_implementation
from wcx.testing.determinism import stream_hash

# The Makefile points this at the pure-Python checkout when the suite runs on the compiled build.
REFERENCE_ROOT = Path(os.environ.get("WCX_REFERENCE_ROOT", Path(wcx.__file__).resolve().parents[1]))


def test_same_stream_gives_the_same_state_hash_in_a_fresh_pure_python_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(REFERENCE_ROOT), "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-m", "wcx.testing.determinism"],
        cwd=REFERENCE_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    implementation, reference_hash = result.stdout.split()
    assert implementation == "python"
    assert stream_hash() == reference_hash, f"{engine_implementation()} engine diverges from pure Python"
