"""`wcx demo` end to end: the real command line, with stdout a pipe (plain lines)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "wcx", "demo"]
TRADE = re.compile(r"^trade \d\d:\d\d:\d\d\.\d{3} (\S+) +(buy|sell) +(\S+) +(\S+)$")
# Display precision: prices at tick precision, quantities at lot-step precision (config/markets.toml).
DECIMALS = {"BTC-USDT": (2, 4), "ETH-USDT": (2, 4), "ETH-BTC": (5, 3)}


def decimals(text: str) -> int:
    """Digits after the decimal point."""
    return len(text.partition(".")[2])


def start(*args: str) -> subprocess.Popen[str]:
    """Start the demo with stdout and stderr piped."""
    return subprocess.Popen(
        [*DEMO, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_demo_prints_trades_of_every_market_and_the_book_then_exits() -> None:
    command = [*DEMO, "--seconds", "2", "--seed", "3"]
    result = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    trades = [m.groups() for m in map(TRADE.match, lines) if m]
    assert {symbol for symbol, *_ in trades} == set(DECIMALS)
    for symbol, _side, price, quantity in trades:
        assert (decimals(price), decimals(quantity)) == DECIMALS[symbol]
    assert any(line.startswith("book  ETH-BTC ") and " bid " in line for line in lines)
    assert lines[-2].startswith("demo stopped after ")
    assert lines[-1] == "rejections: none"


def test_demo_stops_quietly_when_the_reader_goes_away() -> None:
    with start() as demo:
        assert demo.stdout is not None and demo.stderr is not None
        head = [demo.stdout.readline() for _ in range(5)]
        demo.stdout.close()
        assert demo.wait(timeout=30) == 0
        assert all(line.startswith("trade ") for line in head)
        assert demo.stderr.read() == ""


def test_ctrl_c_exits_cleanly_with_a_summary() -> None:
    with start("--rate", "1000") as demo:
        assert demo.stdout is not None
        first = demo.stdout.readline()
        demo.send_signal(signal.SIGINT)
        rest, errors = demo.communicate(timeout=30)
    assert demo.returncode == 0, errors
    assert first.startswith("trade ")
    assert "demo stopped after " in rest
    assert "Traceback" not in errors
