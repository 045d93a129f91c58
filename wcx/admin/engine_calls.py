"""Sequenced engine commands from admin actions, and the money parsing they need."""

from __future__ import annotations

from wcx.api.errors import ApiError
from wcx.engine import Command, Event
from wcx.engine.events import CommandRejected
from wcx.primitives import AmountError, parse_amount
from wcx.runtime import Runtime


async def submit_checked(runtime: Runtime, command: Command) -> list[Event]:
    """Submit through the sequencer; an engine rejection becomes its API error (nothing changed)."""
    events = await runtime.submit(command)
    for event in events:
        if isinstance(event, CommandRejected):
            raise ApiError.from_reject(event.code)
    return events


def asset_scale(runtime: Runtime, asset: str) -> int:
    """The asset's scale; 404 UNKNOWN_ASSET."""
    scale = runtime.engine.state.assets.get(asset)
    if scale is None:
        raise ApiError(404, "UNKNOWN_ASSET", f"no asset {asset!r}")
    return scale


def units(text: str, scale: int, *, field: str, signed: bool = False) -> int:
    """A decimal string as minor units (never rounded); 422 with the amount's code otherwise."""
    negative = signed and isinstance(text, str) and text.startswith("-")
    try:
        value = parse_amount(text[1:] if negative else text, scale)
    except AmountError as exc:
        raise ApiError(422, exc.code.upper(), f"{field}: {exc}") from None
    return -value if negative else value
