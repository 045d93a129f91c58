"""Instructions per command (valgrind callgrind) for wcx and its peers on the seeded 1-market stream.

Wall-clock rates on a shared machine move with its load; instruction counts do not. Each child
process builds the stream of `engine_vs_peers.py`, sets up, then runs one implementation inside
`functools.reduce`, so `--toggle-collect=functools_reduce` counts exactly the timed loop (for wcx:
Engine.apply, the loop around it and freeing the returned events; `apply` alone is reported for
the compiled engine). Needs valgrind. Usage:

    PYTHONPATH=build/native python bench/engine_callgrind.py [commands]
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine_vs_peers import run_lightmatchingengine, run_pyorderbook

from wcx.simulator.engine_bench import Stream, engine_implementation, make_stream, prepared_engine

NATIVE_APPLY = "CPyPy_engine___Engine___apply"


def _wcx_loop(stream: Stream) -> Callable[[], int]:
    """Set-up outside the measured call; the returned loop applies the trading commands."""
    engine, seq = prepared_engine(stream)
    apply = engine.apply

    def loop() -> int:
        s = seq
        for command in stream.trading:
            s += 1
            apply(s, s, command)
        return len(stream.trading)

    return loop


def _child(name: str, commands: int) -> None:
    stream = make_stream(1, commands)
    if name == "wcx":
        run = _wcx_loop(stream)
    else:
        peer = run_lightmatchingengine if name == "lightmatchingengine" else run_pyorderbook
        run = functools.partial(peer, stream)
    functools.reduce(lambda _acc, _item: run(), [None], 0)


def _inclusive(report: str, symbol: str) -> int:
    for line in report.splitlines():
        if line.rstrip().endswith(symbol) or f":{symbol} [" in line:
            return int(line.split()[0].replace(",", ""))
    return 0


def _measure(name: str, commands: int) -> tuple[int, int]:
    """(instructions in the measured loop, of which inside the native Engine.apply) for `commands`."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        valgrind = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce"]
        child = [sys.executable, __file__, "--child", name, str(commands)]
        subprocess.run([*valgrind, f"--callgrind-out-file={out}", *child], check=True, capture_output=True)
        report = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", str(out)], check=True, capture_output=True, text=True
        ).stdout
    total = re.search(r"([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", report)
    assert total is not None, report[:2000]
    return int(total.group(1).replace(",", "")), _inclusive(report, NATIVE_APPLY)


def main() -> None:
    """Measure each implementation and print instructions per command and the ratios."""
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], int(sys.argv[3]))
        return
    commands = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(f"1 market, {commands:,} commands, instructions per command (callgrind)")
    ours, apply = _measure("wcx", commands)
    inside = f"   (Engine.apply {apply / commands:,.0f})" if apply else ""
    print(f"  wcx ({engine_implementation()}){'':20s} {ours / commands:>9,.0f}{inside}")
    for peer in ("lightmatchingengine", "pyorderbook"):
        theirs, _ = _measure(peer, commands)
        print(f"  {peer:32s} {theirs / commands:>9,.0f}   peer/wcx = {theirs / ours:4.2f}x")


if __name__ == "__main__":
    main()
