"""ccxt's binance class, unchanged, against a real `wcx serve`: market data, account, orders, errors."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest

from api.binance.conftest import Egress, Venue, config

SYMBOL = "BTC/USDT"


def test_load_markets_maps_symbols_filters_and_precisions(venue: Venue) -> None:
    client = venue.rest()
    markets = client.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "ETH/BTC"} <= set(markets)
    btc = markets[SYMBOL]
    assert (btc["id"], btc["base"], btc["quote"], btc["spot"], btc["active"]) == (
        "BTCUSDT",
        "BTC",
        "USDT",
        True,
        True,
    )
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.0001
    assert btc["limits"]["amount"] == {"min": 0.0001, "max": 1000.0}
    assert btc["limits"]["cost"]["min"] == 5.0
    filters = {f["filterType"]: f for f in btc["info"]["filters"]}
    assert set(filters) == {"PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "NOTIONAL"}
    assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"
    server_time = client.fetch_time()
    assert abs(server_time - time.time() * 1000) < 5_000


def test_public_market_data_after_trading(venue: Venue) -> None:
    alice, bob = venue.rest(venue.alice), venue.rest(venue.bob)
    maker = alice.create_order(SYMBOL, "limit", "sell", 0.5, 60_000)
    taker = bob.create_order(SYMBOL, "limit", "buy", 0.2, 60_000, {"timeInForce": "IOC"})
    assert taker["status"] == "closed" and taker["filled"] == 0.2
    book = bob.fetch_order_book(SYMBOL)
    assert book["asks"][0] == [60_000.0, 0.3]
    assert isinstance(book["nonce"], int) and book["nonce"] > 0
    trades = bob.fetch_trades(SYMBOL)
    assert trades[-1]["price"] == 60_000.0 and trades[-1]["amount"] == 0.2 and trades[-1]["side"] == "buy"
    candles = bob.fetch_ohlcv(SYMBOL, "1m")
    assert candles and candles[-1][4] == 60_000.0 and candles[-1][5] >= 0.2
    ticker = bob.fetch_ticker(SYMBOL)
    assert ticker["last"] == 60_000.0 and ticker["ask"] == 60_000.0 and ticker["baseVolume"] >= 0.2
    alice.cancel_order(maker["id"], SYMBOL)
    raw = httpx.get(f"{venue.url}/api/v3/klines", params={"symbol": "BTCUSDT", "interval": "1m"}).json()
    assert Decimal(raw[-1][9]) >= Decimal("0.2")  # taker buy base volume
    assert httpx.get(f"{venue.url}/api/v3/ping").json() == {}
    prices = httpx.get(f"{venue.url}/api/v3/ticker/price", params={"symbol": "BTCUSDT"}).json()
    assert prices == {"symbol": "BTCUSDT", "price": "60000.000000"}
    book_ticker = httpx.get(f"{venue.url}/api/v3/ticker/bookTicker").json()
    assert {t["symbol"] for t in book_ticker} == {"BTCUSDT", "ETHUSDT", "ETHBTC"}
    aggregated = httpx.get(f"{venue.url}/api/v3/aggTrades", params={"symbol": "BTCUSDT"}).json()
    assert aggregated[-1]["q"] == "0.20000000" and aggregated[-1]["m"] is False


def test_balance_and_every_order_kind(venue: Venue) -> None:
    alice, bob = venue.rest(venue.alice), venue.rest(venue.bob)
    before = alice.fetch_balance()
    assert (
        before["USDT"]["free"] > 0 and before["BTC"]["total"] == before["BTC"]["free"] + before["BTC"]["used"]
    )

    resting = alice.create_order(SYMBOL, "limit", "buy", 0.01, 50_000)
    assert resting["status"] == "open" and resting["clientOrderId"]
    assert alice.fetch_balance()["USDT"]["used"] > before["USDT"]["used"]
    fetched = alice.fetch_order(resting["id"], SYMBOL)
    assert (fetched["status"], fetched["price"], fetched["amount"]) == ("open", 50_000.0, 0.01)
    assert resting["id"] in [o["id"] for o in alice.fetch_open_orders(SYMBOL)]
    cancelled = alice.cancel_order(resting["id"], SYMBOL)
    assert cancelled["status"] == "canceled"
    assert alice.fetch_order(resting["id"], SYMBOL)["status"] == "canceled"

    post_only = alice.create_order(SYMBOL, "limit", "sell", 0.1, 70_000, {"postOnly": True})
    assert post_only["id"] and alice.fetch_order(post_only["id"], SYMBOL)["postOnly"] is True
    fok = bob.create_order(SYMBOL, "limit", "buy", 0.05, 70_000, {"timeInForce": "FOK"})
    assert fok["status"] == "closed" and fok["filled"] == 0.05
    ioc = bob.create_order(SYMBOL, "limit", "buy", 0.5, 70_000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and ioc["filled"] == pytest.approx(0.05)
    gtc = alice.create_order(SYMBOL, "limit", "sell", 0.2, 65_000, {"clientOrderId": "my-order-1"})
    assert gtc["clientOrderId"] == "my-order-1"
    by_amount = bob.create_order(SYMBOL, "market", "buy", 0.1)
    assert by_amount["status"] == "closed" and by_amount["filled"] == 0.1 and by_amount["cost"] == 6_500.0
    assert by_amount["trades"] and by_amount["fee"]["currency"] == "USDT"
    by_cost = bob.create_order(SYMBOL, "market", "buy", None, None, {"cost": 650})
    # The quote amount covers price and fee (charged in USDT): 0.0099 BTC is what 650 USDT buys at 0.2 %;
    # the unspendable rest expires, as Binance reports a MARKET order that could not fill entirely.
    assert (by_cost["filled"], by_cost["cost"], by_cost["status"]) == (0.0099, 643.5, "expired")
    assert by_cost["cost"] + by_cost["fee"]["cost"] <= 650
    mine = bob.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in mine[-2:]] == [by_amount["id"], by_cost["id"]]
    assert mine[-1]["fee"] == {"cost": 1.287, "currency": "USDT"}
    assert all(t["side"] == "buy" and t["takerOrMaker"] == "taker" for t in mine[-2:])
    all_orders = alice.fetch_orders(SYMBOL)
    assert {resting["id"], post_only["id"], gtc["id"]} <= {o["id"] for o in all_orders}
    alice.cancel_all_orders(SYMBOL)
    assert alice.fetch_open_orders(SYMBOL) == []


def test_errors_map_to_ccxt_exceptions(venue: Venue) -> None:
    alice = venue.rest(venue.alice)
    alice.load_markets()
    with pytest.raises(ccxt.InsufficientFunds):
        alice.create_order(SYMBOL, "limit", "buy", 900, 60_000)
    with pytest.raises(ccxt.InvalidOrder):  # above the maximum quantity: Filter failure: LOT_SIZE
        alice.create_order(SYMBOL, "limit", "buy", 1001, 100)
    with pytest.raises(ccxt.InvalidOrder):  # off the tick (ccxt would round it, so use the raw endpoint)
        alice.private_post_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "60000.001",
            }
        )
    with pytest.raises(ccxt.BadRequest):  # -1013 Filter failure: NOTIONAL (ccxt's generic -1013 class)
        alice.create_order(SYMBOL, "limit", "buy", 0.0001, 100)
    resting = venue.rest(venue.bob).create_order(SYMBOL, "limit", "sell", 0.01, 61_000)
    with pytest.raises(ccxt.OrderImmediatelyFillable):  # a post-only (LIMIT_MAKER) order that would take
        alice.create_order(SYMBOL, "limit", "buy", 0.01, 61_000, {"postOnly": True})
    with pytest.raises(ccxt.InvalidOrder):  # -2010 Duplicate order sent.
        alice.create_order(SYMBOL, "limit", "buy", 0.01, 1_000, {"clientOrderId": "dup-1"})
        alice.create_order(SYMBOL, "limit", "buy", 0.01, 1_000, {"clientOrderId": "dup-1"})
    venue.rest(venue.bob).cancel_order(resting["id"], SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        alice.fetch_order("999999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        alice.cancel_order("999999999", SYMBOL)
    with pytest.raises(ccxt.AuthenticationError):
        venue.rest(type(venue.alice)(venue.alice.email, venue.alice.key, "0" * 64)).fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        venue.rest(type(venue.alice)(venue.alice.email, "no-such-key", venue.alice.secret)).fetch_balance()
    with pytest.raises(ccxt.InvalidNonce):  # timestamp outside recvWindow
        stale = venue.rest(venue.alice)
        stale.nonce = lambda: int(time.time() * 1000) - 120_000  # type: ignore[method-assign]
        stale.fetch_balance()
    with pytest.raises(ccxt.BadSymbol):
        httpx_error(venue, "/api/v3/depth", {"symbol": "NOPENOPE"}, -1121)
        alice.public_get_depth({"symbol": "NOPENOPE"})
    alice.cancel_all_orders(SYMBOL)


def httpx_error(venue: Venue, path: str, params: dict[str, Any], code: int) -> None:
    """A raw request answering the Binance error shape with `code` (and the weight it used)."""
    response = httpx.get(f"{venue.url}{path}", params=params)
    assert response.status_code == 400 and response.json()["code"] == code, response.text
    assert response.headers["X-MBX-USED-WEIGHT-1M"].isdigit()


def test_signature_rules_match_the_documentation(venue: Venue) -> None:
    key, secret = venue.alice.key, venue.alice.secret
    query = f"omitZeroBalances=true&recvWindow=5000&timestamp={int(time.time() * 1000)}"
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    ok = httpx.get(f"{venue.url}/api/v3/account?{query}&signature={signature}", headers={"X-MBX-APIKEY": key})
    assert ok.status_code == 200 and ok.headers["X-MBX-USED-WEIGHT-1M"].isdigit()
    assert {b["asset"] for b in ok.json()["balances"]} >= {"BTC", "USDT"}
    # Mixed query string and body: the signature covers the query concatenated with the body (no "&").
    stamp = int(time.time() * 1000)
    head = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.01&price=1000&recvWindow=5000&timestamp={stamp}"
    mixed = hmac.new(secret.encode(), (head + body).encode(), hashlib.sha256).hexdigest()
    placed = httpx.post(
        f"{venue.url}/api/v3/order?{head}",
        content=f"{body}&signature={mixed}",
        headers={"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert placed.status_code == 200, placed.text
    assert placed.json()["status"] == "NEW" and placed.json()["fills"] == []
    wrong = httpx.get(
        f"{venue.url}/api/v3/account?{query}&signature={'0' * 64}", headers={"X-MBX-APIKEY": key}
    )
    assert wrong.json()["code"] == -1022
    unsigned = httpx.get(f"{venue.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": key})
    assert unsigned.json()["code"] == -1102
    venue.rest(venue.alice).cancel_all_orders(SYMBOL)


def test_rate_limit_is_429_with_retry_after_and_ccxt_raises_ddos_protection(venue: Venue) -> None:
    client = venue.rest()
    client.load_markets()
    with httpx.Client(base_url=venue.url) as http:
        weights = []
        for _ in range(400):  # the IP bucket holds 40 and refills 20/s: a tight loop empties it
            refused = http.get("/api/v3/time")
            if refused.status_code == 429:
                break
            weights.append(int(refused.headers["X-MBX-USED-WEIGHT-1M"]))
    assert max(weights) >= 30  # the header reports the weight in use
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["code"] == -1003
    with pytest.raises(ccxt.DDoSProtection):  # ccxt too, once the bucket is empty again
        for _ in range(400):
            client.fetch_time()
    time.sleep(2.5)  # the bucket refills (40 at 20/s) for the tests after this one
    assert httpx.get(f"{venue.url}/api/v3/time").status_code == 200


def test_no_request_left_loopback(venue: Venue, egress: Egress) -> None:
    client = venue.rest(venue.alice)
    client.load_markets()
    client.fetch_balance()
    assert egress.peers and all(peer[0] == "127.0.0.1" for peer in egress.peers)
    # The guard is live: a client pointed elsewhere (a TEST-NET address, no DNS needed) is refused.
    egress.expected_strays = True
    with pytest.raises(ccxt.NetworkError):
        ccxt.binance({**config("http://192.0.2.1:9"), "timeout": 2000}).fetch_time()
    assert ("192.0.2.1", 9) in egress.peers


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "abc"}, -1100),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "0"}, -1130),
        ("/api/v3/depth", {}, -1102),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "3m"}, -1120),
        (
            "/api/v3/klines",
            {"symbol": "BTCUSDT", "interval": "1m", "startTime": "9223372036854775807"},
            -1130,
        ),
        ("/api/v3/aggTrades", {"symbol": "BTCUSDT", "startTime": "2000", "endTime": "1000"}, -1128),
        ("/api/v3/exchangeInfo", {"symbols": "[1,2]"}, -1130),
        ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","NOPE"]'}, -1121),
    ],
)
def test_bad_public_parameters_are_400_with_a_binance_code(
    venue: Venue, path: str, params: dict[str, str], code: int
) -> None:
    httpx_error(venue, path, params, code)


def test_refused_orders_change_nothing(venue: Venue) -> None:
    alice = venue.rest(venue.alice)
    before = alice.fetch_balance()["total"]
    for params in (
        {
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01",
            "price": "0.0000001",
        },  # too precise: -1111
        {"type": "LIMIT", "quantity": "0.01", "price": "100"},  # no timeInForce: -1102
        {"type": "MARKET", "quantity": "0.01", "quoteOrderQty": "10"},  # both amounts: -1102
        {"type": "LIMIT_MAKER", "timeInForce": "GTC", "quantity": "0.01", "price": "100"},  # -1106
        {"type": "STOP_LOSS", "quantity": "0.01"},  # -1116
        {
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01",
            "price": "100",
            "newClientOrderId": "x" * 37,
        },
    ):
        with pytest.raises(ccxt.BadRequest):
            alice.private_post_order({"symbol": "BTCUSDT", "side": "BUY", **params})
    assert alice.fetch_balance()["total"] == before
    assert alice.fetch_open_orders(SYMBOL) == []


def test_order_parameters_and_answer_shapes(venue: Venue) -> None:
    alice = venue.rest(venue.alice)
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
    ack = alice.private_post_order(
        {**base, "price": "1000", "newOrderRespType": "ACK", "newClientOrderId": "shape-1"}
    )
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = alice.private_post_order({**base, "price": "1001", "newOrderRespType": "RESULT"})
    assert (
        "fills" not in result
        and result["status"] == "NEW"
        and result["selfTradePreventionMode"] == "EXPIRE_TAKER"
    )
    by_client_id = alice.private_get_order({"symbol": "BTCUSDT", "origClientOrderId": "shape-1"})
    assert by_client_id["orderId"] == ack["orderId"] and by_client_id["origQty"] == "0.01000000"
    refused = {"symbol": "BTCUSDT", "orderId": ack["orderId"], "cancelRestrictions": "ONLY_PARTIALLY_FILLED"}
    with pytest.raises(ccxt.OrderNotFound):  # -2011: the order is NEW, not partially filled
        alice.private_delete_order(refused)
    later = alice.private_get_allorders({"symbol": "BTCUSDT", "orderId": result["orderId"]})
    assert [o["orderId"] for o in later] == [result["orderId"]]
    everywhere = alice.private_get_openorders()
    assert {o["orderId"] for o in everywhere} == {ack["orderId"], result["orderId"]}
    cancelled = alice.private_delete_openorders({"symbol": "BTCUSDT"})
    assert {c["orderId"] for c in cancelled} == {ack["orderId"], result["orderId"]}
    assert all(c["status"] == "CANCELED" and c["origClientOrderId"] for c in cancelled)
    with pytest.raises(ccxt.OrderNotFound):  # nothing left to cancel: -2011
        alice.private_delete_openorders({"symbol": "BTCUSDT"})
    trades = alice.private_get_mytrades({"symbol": "BTCUSDT"})
    if trades:
        newest = trades[-1]["id"]
        assert [t["id"] for t in alice.private_get_mytrades({"symbol": "BTCUSDT", "fromId": newest})] == [
            newest
        ]
    info = httpx.get(f"{venue.url}/api/v3/exchangeInfo", params={"symbols": '["ETHBTC","BTCUSDT"]'}).json()
    assert [s["symbol"] for s in info["symbols"]] == ["ETHBTC", "BTCUSDT"]


def test_a_cancel_answers_what_the_order_then_shows(venue: Venue) -> None:
    """Cancels of unfilled orders are answered from engine memory, of partly filled ones from history:
    either way the answer agrees field by field with the order as queried afterwards."""
    alice, bob = venue.rest(venue.alice), venue.rest(venue.bob)
    limit = {"symbol": "ETHBTC", "type": "LIMIT", "timeInForce": "GTC"}
    unfilled = alice.private_post_order({**limit, "side": "BUY", "quantity": "0.5", "price": "0.04001"})
    partly = alice.private_post_order({**limit, "side": "SELL", "quantity": "0.3", "price": "0.05003"})
    bob.private_post_order(
        {**limit, "side": "BUY", "quantity": "0.1", "price": "0.05003", "timeInForce": "IOC"}
    )
    try:
        for placed, executed, quote in (
            (unfilled, "0.00000000", "0.00000000"),
            (partly, "0.10000000", "0.00500300"),
        ):
            answer = alice.private_delete_order({"symbol": "ETHBTC", "orderId": placed["orderId"]})
            assert answer["status"] == "CANCELED"
            assert Decimal(answer["executedQty"]) == Decimal(executed)
            assert Decimal(answer["cummulativeQuoteQty"]) == Decimal(quote)
            assert answer["origClientOrderId"] == placed["clientOrderId"] != answer["clientOrderId"]
            shown = alice.private_get_order({"symbol": "ETHBTC", "orderId": placed["orderId"]})
            # A closed order's query no longer shows its self-trade prevention mode: the placement did.
            assert answer["selfTradePreventionMode"] == placed["selfTradePreventionMode"]
            common = (set(answer) & set(shown)) - {"clientOrderId", "origClientOrderId", "transactTime"}
            assert common >= {"price", "origQty", "executedQty", "status", "type", "side", "timeInForce"}
            assert {k: answer[k] for k in common} == {k: shown[k] for k in common}
    finally:
        for trader in (alice, bob):
            if trader.private_get_openorders({"symbol": "ETHBTC"}):
                trader.private_delete_openorders({"symbol": "ETHBTC"})
