"""Publisher: book diffs rebuild the engine's book exactly, seq chains, trades, ticker, account updates."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import orjson
import pytest

from wcx.engine import (
    AddMarket,
    AmendOrder,
    CancelAll,
    CancelOrder,
    Command,
    CreditDeposit,
    Engine,
    Event,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
)
from wcx.engine.events import OrderAmended, OrderFilled
from wcx.primitives import format_amount
from wcx.simulator.flow import OrderFlow
from wcx.stream import BookGapError, ClientBook, InProcessBus, Publisher
from wcx.stream.bus import LocalSubscription
from wcx.testing.harness import EngineHarness

T = TypeVar("T")
BTC = 10**8
USDT = 10**6
END = b'{"type":"end"}'


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def drain(bus: InProcessBus, subscription: LocalSubscription) -> list[dict[str, Any]]:
    """Every message queued for the subscription so far (publish a marker, read up to it)."""
    await bus.publish(subscription.channel, END)
    messages: list[dict[str, Any]] = []
    async for payload in subscription:
        if payload == END:
            return messages
        messages.append(orjson.loads(payload))
    raise AssertionError("subscription ended")


async def flush(publisher: Publisher) -> None:
    """Publish everything the publisher has queued."""
    await publisher.stop()
    await publisher.start()


def engine_depth(engine: Engine, symbol: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The engine's whole book as the wire writes it."""
    state = engine.state
    market = state.markets[symbol]
    base, quote = state.assets[market.base], state.assets[market.quote]

    def side(levels: list[tuple[int, int]]) -> list[tuple[str, str]]:
        return [(format_amount(price, quote), format_amount(qty, base)) for price, qty in levels]

    return side(market.book.bids.depth(10**9)), side(market.book.asks.depth(10**9))


def random_batch(harness: EngineHarness, rng: random.Random, flow: OrderFlow, size: int) -> list[Command]:
    """The simulator's mix plus amends and cancel-alls of orders resting in the engine now."""
    commands: list[Command] = []
    open_orders = list(harness.engine.state.orders.values())
    for command in flow.commands(size):
        roll = rng.random()
        if roll < 0.1 and open_orders:
            order = open_orders.pop(rng.randrange(len(open_orders)))
            market = harness.engine.state.markets[order.symbol]
            if rng.random() < 0.3:
                commands.append(
                    AmendOrder(order.account, order.id, quantity=order.quantity + market.lot_step)
                )
            else:
                ticks = rng.randint(-20, 20) or 1
                price = max(order.price + ticks * market.tick_size, market.tick_size)
                commands.append(AmendOrder(order.account, order.id, price=price))
        elif roll < 0.11 and open_orders:
            commands.append(CancelAll(rng.choice(open_orders).account))
        commands.append(command)
    return commands


async def started_publisher(btc: int, usdt: int) -> tuple[EngineHarness, InProcessBus, Publisher]:
    """A harness where seller 1 holds `btc` and buyer 2 holds `usdt`, with a started publisher over it."""
    harness = EngineHarness()
    harness.fund(1, "BTC", btc)
    harness.fund(2, "USDT", usdt)
    bus = InProcessBus()
    publisher = Publisher(harness.engine, bus)
    await publisher.start()
    return harness, bus, publisher


def funded_harness(accounts: int) -> tuple[EngineHarness, OrderFlow]:
    harness = EngineHarness()
    flow = OrderFlow(harness.data, list(harness.data.markets), accounts=accounts, seed=7)
    for command in flow.funding():
        harness.apply(command)
    return harness, flow


def apply_batch(harness: EngineHarness, commands: Sequence[Command]) -> list[Event]:
    """Apply commands the way one sequencer batch does: the listener sees all their events at once."""
    return [event for command in commands for event in harness.apply(command)]


def test_snapshot_and_diffs_rebuild_the_engine_book_for_early_and_late_subscribers() -> None:
    async def scenario() -> None:
        harness, flow = funded_harness(accounts=12)
        bus = InProcessBus(queue_size=100_000)
        publisher = Publisher(harness.engine, bus)
        await publisher.start()
        rng = random.Random(11)
        symbols = [market.symbol for market in harness.data.markets]
        early = {symbol: await bus.subscribe(f"book.{symbol}") for symbol in symbols}
        early_snapshots = {symbol: publisher.book_snapshot(symbol, None) for symbol in symbols}
        late: dict[str, tuple[LocalSubscription, dict[str, Any]]] = {}
        amended = 0
        for batch in range(300):
            events = apply_batch(harness, random_batch(harness, rng, flow, rng.randint(1, 20)))
            amended += sum(isinstance(event, OrderAmended) for event in events)
            publisher.on_events(events)
            for symbol in symbols:
                snapshot = publisher.book_snapshot(symbol, None)
                assert snapshot is not None
                message = orjson.loads(snapshot[1])
                # The mirror is the engine's book after every batch, level for level.
                assert (ClientBook(message).depth()) == engine_depth(harness.engine, symbol)
            if batch == 150:
                # Join while batches are still queued, unpublished: those diffs must be skipped.
                for symbol in symbols:
                    subscription = await bus.subscribe(f"book.{symbol}")
                    _, payload = publisher.book_snapshot(symbol, None) or (0, b"")
                    late[symbol] = (subscription, orjson.loads(payload))
            if rng.random() < 0.2:
                await asyncio.sleep(0)
        await flush(publisher)
        applied_late: list[bool] = []
        for symbol in symbols:
            _, payload = early_snapshots[symbol] or (0, b"")
            book = ClientBook(orjson.loads(payload))
            diffs = await drain(bus, early[symbol])
            assert all(book.apply(diff) for diff in diffs)
            assert book.depth() == engine_depth(harness.engine, symbol)
            subscription, late_snapshot = late[symbol]
            late_book = ClientBook(late_snapshot)
            applied_late += [late_book.apply(diff) for diff in await drain(bus, subscription)]
            assert late_book.depth() == engine_depth(harness.engine, symbol)
            assert late_book.seq == book.seq
        assert amended > 100
        # Late subscribers both skipped diffs their snapshot already had and applied newer ones.
        assert True in applied_late
        assert False in applied_late
        assert any(bids or asks for bids, asks in (engine_depth(harness.engine, s) for s in symbols))

    run(scenario())


def test_diff_seqs_chain_and_name_the_last_event_of_their_market() -> None:
    async def scenario() -> None:
        harness, flow = funded_harness(accounts=6)
        bus = InProcessBus(queue_size=100_000)
        publisher = Publisher(harness.engine, bus)
        await publisher.start()
        subscription = await bus.subscribe("book.BTC-USDT")
        start = publisher.book_snapshot("BTC-USDT", 100)
        assert start is not None
        market_seqs: set[int] = set()
        rng = random.Random(3)
        commands = list(flow.commands(600))
        for index in range(0, len(commands), 7):
            events = apply_batch(harness, commands[index : index + rng.randint(1, 7)])
            publisher.on_events(events)
            market_seqs.update(e.seq for e in events if getattr(e, "symbol", "") == "BTC-USDT")
        await flush(publisher)
        diffs = await drain(bus, subscription)
        assert diffs
        assert diffs[0]["prev_seq"] == start[0]
        for previous, diff in itertools.pairwise(diffs):
            assert diff["prev_seq"] == previous["seq"] < diff["seq"]
        assert {diff["seq"] for diff in diffs} <= market_seqs
        assert all(diff["symbol"] == "BTC-USDT" and (diff["bids"] or diff["asks"]) for diff in diffs)

    run(scenario())


def test_a_dropped_batch_shows_as_a_gap() -> None:
    async def scenario() -> None:
        harness, _ = funded_harness(accounts=2)
        bus = InProcessBus()
        publisher = Publisher(harness.engine, bus, max_pending=1)
        subscription = await bus.subscribe("book.BTC-USDT")
        _, payload = publisher.book_snapshot("BTC-USDT", 100) or (0, b"")
        book = ClientBook(orjson.loads(payload))
        for price in (60_000, 60_001, 60_002):
            publisher.on_events(
                harness.apply(PlaceOrder(1, "BTC-USDT", Side.BUY, price=price * USDT, quantity=BTC))
            )
        assert publisher.dropped_batches == 2  # not started: only the first batch fit the queue
        await publisher.start()
        await flush(publisher)
        publisher.on_events(
            harness.apply(PlaceOrder(1, "BTC-USDT", Side.BUY, price=59_000 * USDT, quantity=BTC))
        )
        await flush(publisher)
        first, last = await drain(bus, subscription)
        assert book.apply(first)
        with pytest.raises(BookGapError):
            book.apply(last)

    run(scenario())


def test_trades_and_ticker_follow_the_fills() -> None:
    async def scenario() -> None:
        harness, flow = funded_harness(accounts=8)
        bus = InProcessBus(queue_size=100_000)
        publisher = Publisher(harness.engine, bus)
        await publisher.start()
        trades = await bus.subscribe("trades.BTC-USDT")
        tickers = await bus.subscribe("ticker.BTC-USDT")
        fills: list[OrderFilled] = []
        batches_with_fills = 0
        commands = list(flow.commands(800))
        for index in range(0, len(commands), 5):
            events = apply_batch(harness, commands[index : index + 5])
            batch_fills = [e for e in events if isinstance(e, OrderFilled) and e.symbol == "BTC-USDT"]
            batches_with_fills += bool(batch_fills)
            fills += batch_fills
            publisher.on_events(events)
        await flush(publisher)
        messages = await drain(bus, trades)
        published = [trade for message in messages for trade in message["trades"]]
        assert len(fills) > 10
        assert [(t["id"], t["price"], t["quantity"], t["taker_side"]) for t in published] == [
            (f.trade_id, format_amount(f.price, 6), format_amount(f.quantity, 8), f.taker_side.value)
            for f in fills
        ]
        fill_seq = {f.trade_id: f.seq for f in fills}
        # One message per batch with trades, at the batch's last seq in the market.
        assert all(m["seq"] >= max(fill_seq[t["id"]] for t in m["trades"]) for m in messages)
        assert all(a["seq"] < b["seq"] for a, b in itertools.pairwise(messages))
        assert len(messages) == batches_with_fills
        ticker = (await drain(bus, tickers))[-1]
        volume = sum(f.quantity for f in fills)
        assert ticker["last"] == format_amount(fills[-1].price, 6)
        assert ticker["volume"] == format_amount(volume, 8)
        assert ticker["quote_volume"] == format_amount(sum(f.quote_quantity for f in fills), 6)
        assert ticker["high"] == format_amount(max(f.price for f in fills), 6)
        assert ticker["low"] == format_amount(min(f.price for f in fills), 6)
        assert ticker["open"] == format_amount(fills[0].price, 6)
        assert ticker["trades"] == len(fills)
        book = harness.engine.state.markets["BTC-USDT"].book
        assert ticker["best_bid"] == (format_amount(book.bids.top.price, 6) if book.bids.top else None)
        assert ticker["best_ask"] == (format_amount(book.asks.top.price, 6) if book.asks.top else None)
        seq, payload = publisher.ticker_snapshot("BTC-USDT") or (0, b"")
        assert seq == harness.engine.state.last_seq
        assert {k: v for k, v in orjson.loads(payload).items() if k not in ("seq", "ts")} == {
            k: v for k, v in ticker.items() if k not in ("seq", "ts")
        }

    run(scenario())


def test_ticker_volume_is_a_rolling_24_hour_window() -> None:
    async def scenario() -> None:
        harness, bus, publisher = await started_publisher(10 * BTC, 10**6 * USDT)
        tickers = await bus.subscribe("ticker.BTC-USDT")
        minute = 60 * 10**9
        for hour, price in ((0, 60_000), (12, 61_000), (25, 62_000)):
            events = harness.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=price * USDT, quantity=BTC))
            events += harness.apply(PlaceOrder(2, "BTC-USDT", Side.BUY, price=price * USDT, quantity=BTC))
            # The harness clock is seq × 1 µs; put each trade at its hour instead.
            publisher.on_events([type(e)(**{**_fields(e), "ts": hour * 60 * minute}) for e in events])
        await flush(publisher)
        last = (await drain(bus, tickers))[-1]
        assert last["volume"] == format_amount(2 * BTC, 8)  # the hour-0 trade left the window
        assert (last["open"], last["high"], last["low"], last["trades"]) == (
            "61000.000000",
            "62000.000000",
            "61000.000000",
            2,
        )

    run(scenario())


def test_the_24h_ticker_forgets_trades_older_than_a_day() -> None:
    async def scenario() -> None:
        harness, bus, publisher = await started_publisher(BTC, 100_000 * USDT)
        tickers = await bus.subscribe("ticker.BTC-USDT")
        events = harness.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=60_000 * USDT, quantity=BTC // 10))
        events += harness.apply(PlaceOrder(2, "BTC-USDT", Side.BUY, price=60_000 * USDT, quantity=BTC // 10))
        publisher.on_events(events)
        # 25 h later, a new best bid and no trade: the ticker goes out with an empty window.
        bid = PlaceOrder(2, "BTC-USDT", Side.BUY, price=59_000 * USDT, quantity=BTC // 10)
        publisher.on_events(harness.engine.apply(harness.seq + 1, 25 * 3600 * 10**9, bid))
        await flush(publisher)
        traded, quiet = (await drain(bus, tickers))[-2:]
        assert (traded["trades"], traded["volume"], traded["last"]) == (1, "0.10000000", "60000.000000")
        assert (quiet["trades"], quiet["volume"], quiet["last"]) == (0, "0.00000000", None)
        assert quiet["best_bid"] == "59000.000000"

    run(scenario())


def test_candles_of_each_interval_follow_the_trades() -> None:
    async def scenario() -> None:
        harness, bus, publisher = await started_publisher(10 * BTC, 10**6 * USDT)
        assert publisher.candle_snapshot("BTC-USDT", "1m") is None
        one_minute = await bus.subscribe("candles.BTC-USDT.1m")
        one_hour = await bus.subscribe("candles.BTC-USDT.1h")
        start = 1_700_000_040 * 10**9  # 2023-11-14T22:14:00Z, a minute boundary
        for offset, price in ((0, 60_000), (30, 59_000), (61, 61_000)):
            events = harness.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=price * USDT, quantity=BTC))
            events += harness.apply(PlaceOrder(2, "BTC-USDT", Side.BUY, price=price * USDT, quantity=BTC))
            publisher.on_events([type(e)(**{**_fields(e), "ts": start + offset * 10**9}) for e in events])
        await flush(publisher)
        minutes = await drain(bus, one_minute)
        hours = await drain(bus, one_hour)
        assert [(m["open_time"], m["open"], m["low"], m["close"], m["trades"]) for m in minutes] == [
            ("2023-11-14T22:14:00Z", "60000.000000", "60000.000000", "60000.000000", 1),
            ("2023-11-14T22:14:00Z", "60000.000000", "59000.000000", "59000.000000", 2),
            ("2023-11-14T22:15:00Z", "61000.000000", "61000.000000", "61000.000000", 1),
        ]
        assert (hours[-1]["open_time"], hours[-1]["high"], hours[-1]["volume"]) == (
            "2023-11-14T22:00:00Z",
            "61000.000000",
            "3.00000000",
        )
        seq, current = publisher.candle_snapshot("BTC-USDT", "1h") or (0, b"")
        assert {**orjson.loads(current), "seq": hours[-1]["seq"]} == hours[-1]
        assert seq == harness.seq

    run(scenario())


def _fields(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__struct_fields__}


def test_account_channel_reports_orders_fills_and_balances() -> None:
    async def scenario() -> None:
        harness, bus, publisher = await started_publisher(2 * BTC, 100_000 * USDT)
        seller = await bus.subscribe("account.1")
        buyer = await bus.subscribe("account.2")
        price = 65_000 * USDT
        steps: list[Command] = [
            PlaceOrder(1, "BTC-USDT", Side.SELL, price=price, quantity=BTC // 2, client_order_id="s1"),
            PlaceOrder(2, "BTC-USDT", Side.BUY, price=price, quantity=BTC // 5, client_order_id="b1"),
            AmendOrder(1, client_order_id="s1", price=price + USDT),
            CancelOrder(1, client_order_id="s1"),
            PlaceOrder(2, "BTC-USDT", Side.BUY, OrderType.LIMIT, TimeInForce.IOC, price=price, quantity=BTC),
            PlaceOrder(2, "BTC-USDT", Side.BUY, price=price, quantity=1000 * BTC),
        ]
        for command in steps:
            publisher.on_events(harness.apply(command))
        publisher.on_events(harness.apply(CreditDeposit(1, "USDT", 5 * USDT, "deposit-1")))
        await flush(publisher)
        seller_messages = await drain(bus, seller)
        buyer_messages = await drain(bus, buyer)
        statuses = [[(o["client_order_id"], o["status"]) for o in m["orders"]] for m in seller_messages]
        assert statuses == [
            [("s1", "accepted")],
            [("s1", "partially_filled")],
            [("s1", "amended")],
            [("s1", "cancelled")],
            [],
        ]
        assert [[(o["client_order_id"], o["status"]) for o in m["orders"]] for m in buyer_messages] == [
            [("b1", "accepted"), ("b1", "filled")],
            [("", "accepted"), ("", "expired")],
            [("", "rejected")],
        ]
        assert buyer_messages[2]["orders"][0]["code"] == "INSUFFICIENT_FUNDS"
        (maker_fill,) = seller_messages[1]["fills"]
        (taker_fill,) = buyer_messages[0]["fills"]
        assert (
            maker_fill
            | {
                "liquidity": "taker",
                "side": "buy",
                "fee": taker_fill["fee"],
                "order_id": 2,
                "client_order_id": "b1",
            }
            == taker_fill
        )
        assert (maker_fill["quantity"], maker_fill["fee"], taker_fill["fee"]) == (
            "0.20000000",
            "13.000000",
            "26.000000",
        )
        assert seller_messages[1]["orders"][0]["remaining"] == "0.30000000"
        assert seller_messages[3]["orders"][0]["reason"] == "user"
        # Balances are the engine's after each batch; the last (a deposit) touches USDT only.
        assert seller_messages[-1]["balances"] == {
            "USDT": {
                "available": format_amount(harness.balance(1, "USDT")[0], 6),
                "held": "0.000000",
            }
        }
        assert seller_messages[-2]["balances"]["BTC"] == {"available": "1.80000000", "held": "0.00000000"}
        assert buyer_messages[0]["balances"] == {
            "BTC": {"available": "0.20000000", "held": "0.00000000"},
            "USDT": {"available": "86974.000000", "held": "0.000000"},
        }
        seq, snapshot = publisher.account_snapshot(1)
        assert seq == harness.engine.state.last_seq
        assert orjson.loads(snapshot)["balances"] == {
            "BTC": {"available": "1.80000000", "held": "0.00000000"},
            "USDT": {"available": format_amount(harness.balance(1, "USDT")[0], 6), "held": "0.000000"},
        }

    run(scenario())


def test_market_buy_by_quote_amount_ends_filled() -> None:
    async def scenario() -> None:
        harness, bus, publisher = await started_publisher(2 * BTC, 100_000 * USDT)
        buyer = await bus.subscribe("account.2")
        for price in (65_000, 65_001):
            harness.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=price * USDT, quantity=BTC // 10))
        publisher.on_events(
            harness.apply(
                PlaceOrder(
                    2, "BTC-USDT", Side.BUY, OrderType.MARKET, TimeInForce.IOC, quote_amount=13_026_100_200
                )
            )
        )
        await flush(publisher)
        (message,) = await drain(bus, buyer)
        assert [o["status"] for o in message["orders"]] == ["accepted", "partially_filled", "filled"]
        assert message["orders"][0]["quote_amount"] == "13026.100200"
        assert message["orders"][0]["price"] is None
        assert len(message["fills"]) == 2

    run(scenario())


def test_publisher_over_a_restored_engine_knows_its_resting_orders() -> None:
    async def scenario() -> None:
        harness = EngineHarness()
        harness.fund(1, "BTC", 2 * BTC)
        harness.apply(
            PlaceOrder(1, "BTC-USDT", Side.SELL, price=65_000 * USDT, quantity=BTC // 10, client_order_id="a")
        )
        harness.apply(PlaceOrder(1, "BTC-USDT", Side.SELL, price=65_000 * USDT, quantity=BTC // 10))
        engine = Engine.restore(harness.engine.snapshot())
        bus = InProcessBus()
        publisher = Publisher(engine, bus)
        await publisher.start()
        seq, snapshot = publisher.book_snapshot("BTC-USDT", 100) or (0, b"")
        assert seq == harness.seq
        assert orjson.loads(snapshot)["asks"] == [["65000.000000", "0.20000000"]]
        subscription = await bus.subscribe("book.BTC-USDT")
        account = await bus.subscribe("account.1")
        publisher.on_events(engine.apply(harness.seq + 1, 0, CancelOrder(1, client_order_id="a")))
        await flush(publisher)
        (diff,) = await drain(bus, subscription)
        assert (diff["asks"], diff["prev_seq"], diff["seq"]) == (
            [["65000.000000", "0.10000000"]],
            seq,
            seq + 1,
        )
        (update,) = await drain(bus, account)
        assert update["orders"][0]["client_order_id"] == "a"

    run(scenario())


def test_a_market_added_later_streams_from_its_first_order() -> None:
    async def scenario() -> None:
        harness = EngineHarness()
        bus = InProcessBus()
        publisher = Publisher(harness.engine, bus)
        await publisher.start()
        assert "BTC-ETH" not in publisher.markets()
        harness.fund(1, "ETH", 10**18)
        batch: list[Command] = [
            AddMarket("BTC-ETH", "BTC", "ETH", 10**13, 10**4, 10**4, 10**12, 0),
            PlaceOrder(1, "BTC-ETH", Side.BUY, price=2 * 10**16, quantity=10**6),
        ]
        events = apply_batch(harness, batch)
        publisher.on_events(events)
        assert "BTC-ETH" in publisher.markets()
        subscription = await bus.subscribe("book.BTC-ETH")
        await flush(publisher)
        (diff,) = await drain(bus, subscription)
        assert diff["prev_seq"] == events[0].seq
        assert diff["bids"] == [["0.020000000000000000", "0.01000000"]]

    run(scenario())
