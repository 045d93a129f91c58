"""Ordering, durability before acknowledgement, event fan-out."""

from wcx.sequencer.sequencer import Journal, Listener, Sequencer, SequencerClosedError, SequencerFailedError

__all__ = ["Journal", "Listener", "Sequencer", "SequencerClosedError", "SequencerFailedError"]
