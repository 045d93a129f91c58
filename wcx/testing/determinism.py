"""A fixed seeded stream over the demo markets and the state hash it produces.

`python -m wcx.testing.determinism` prints `<engine implementation> <state hash>`; tests compare
runs across processes (different hash seeds) and across the pure and compiled engines.
"""

from __future__ import annotations

from wcx.simulator.engine_bench import engine_implementation
from wcx.simulator.flow import OrderFlow
from wcx.testing.harness import EngineHarness


def stream_hash(commands: int = 20_000, seed: int = 3) -> str:
    """State hash after the demo set-up, funding of 200 traders and `commands` trading commands."""
    harness = EngineHarness()
    flow = OrderFlow(harness.data, list(harness.data.markets), accounts=200, seed=seed)
    for command in flow.funding():
        harness.apply(command)
    for command in flow.commands(commands):
        harness.apply(command)
    return harness.engine.state_hash()


if __name__ == "__main__":
    print(engine_implementation(), stream_hash())
