"""Crash-test child: `python -m wcx.testing.crash_child <data_dir> <seed>`.

Recovers `data_dir`, prints `ready <last_seq>`, then sequences an endless seeded command
stream through the real Sequencer (real fsync) in bursts of random size, printing
`<seq> <digest>` for every ACKNOWLEDGED command and flushing after each burst. The parent
SIGKILLs it at random moments and checks that every printed ack survived.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import msgspec

from wcx.bootstrap import setup_commands
from wcx.config.markets import load_reference_data
from wcx.engine import Command
from wcx.sequencer import Sequencer
from wcx.simulator.flow import OrderFlow

ACCOUNTS = 20


def command_stream(seed: int, *, fresh: bool) -> Iterator[Command]:
    """Endless seeded commands over the demo markets; `fresh` starts with set-up and funding."""
    data = load_reference_data()
    flow = OrderFlow(data, list(data.markets), accounts=ACCOUNTS, seed=seed)
    if fresh:
        yield from setup_commands(data)
        yield from flow.funding()
    while True:
        yield flow.next_command()


def command_digest(command: Command) -> str:
    """A short fingerprint of a command's canonical encoding."""
    return hashlib.blake2b(msgspec.json.encode(command), digest_size=8).hexdigest()


async def run(data_dir: Path, seed: int, segment_bytes: int, snapshot_every: int) -> None:
    """Recover, then sequence and report acks until killed."""
    sequencer = Sequencer.open(data_dir, segment_bytes=segment_bytes, snapshot_every=snapshot_every)
    out = sys.stdout
    out.write(f"ready {sequencer.last_seq}\n")
    out.flush()
    rng = random.Random(seed)
    stream = command_stream(seed, fresh=sequencer.last_seq == 0)
    async with sequencer:
        while True:
            burst = list(islice(stream, rng.choice((1, 3, 17, 100, 250))))
            first = sequencer.last_seq + 1
            if rng.random() < 0.5:
                await sequencer.submit_many(burst)
            else:
                await asyncio.gather(*(sequencer.submit(command) for command in burst))
            out.write("".join(f"{seq} {command_digest(c)}\n" for seq, c in enumerate(burst, first)))
            out.flush()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("seed", type=int)
    parser.add_argument("--segment-bytes", type=int, default=256 * 1024)
    parser.add_argument("--snapshot-every", type=int, default=3_000)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.data_dir, args.seed, args.segment_bytes, args.snapshot_every))
    except BrokenPipeError:
        # The parent went away: nobody is left to report to.
        sys.exit(1)


if __name__ == "__main__":
    main()
