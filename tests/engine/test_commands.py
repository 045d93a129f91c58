"""Commands are values the garbage collector need not track."""

from __future__ import annotations

import gc
import typing

from wcx.engine import Command, PlaceOrder, Side


def test_no_command_type_is_tracked_by_the_garbage_collector() -> None:
    # Scalars only, so no reference cycles; the API keeps recent placements, which the collector
    # would otherwise rescan on every pass.
    kinds = typing.get_args(Command)
    assert kinds and all(kind.__struct_config__.gc is False for kind in kinds)
    assert not gc.is_tracked(PlaceOrder(1, "BTC-USDT", Side.BUY, price=1, quantity=1, client_order_id="x"))
