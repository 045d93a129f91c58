"""Binance-format errors: `{"code": -2010, "msg": "..."}` with the codes of the Binance Spot API.

Every Binance route uses `BinanceRoute`, which turns our own errors (ApiError from shared code, engine
rejections) into this shape, so a ccxt client maps them to its exception classes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from wcx.api.errors import ENGINE_DOWN, ApiError
from wcx.engine import Reject

INSUFFICIENT_BALANCE = "Account has insufficient balance for requested action."


class BinanceError(Exception):
    """An error answered as `{"code", "msg"}` with an HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    """-1102: a mandatory parameter is missing."""
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def invalid(name: str) -> BinanceError:
    """-1100/-1130 family: a parameter's value is not valid."""
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


UNKNOWN_ORDER_CANCEL = BinanceError(-2011, "Unknown order sent.")
UNKNOWN_ORDER_QUERY = BinanceError(-2013, "Order does not exist.")
INVALID_SYMBOL = BinanceError(-1121, "Invalid symbol.")
BAD_API_KEY = BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

# Engine rejections of a new order: (code, message). LOT_SIZE / PRICE_FILTER / NOTIONAL are the
# filter names clients look for in the message.
_PLACE_REJECTS: dict[Reject, tuple[int, str]] = {
    Reject.UNKNOWN_MARKET: (-1121, "Invalid symbol."),
    Reject.INVALID_PRICE: (-1013, "Filter failure: PRICE_FILTER"),
    Reject.BAD_TICK: (-1013, "Filter failure: PRICE_FILTER"),
    Reject.INVALID_QUANTITY: (-1013, "Filter failure: LOT_SIZE"),
    Reject.BAD_STEP: (-1013, "Filter failure: LOT_SIZE"),
    Reject.BELOW_MIN_QUANTITY: (-1013, "Filter failure: LOT_SIZE"),
    Reject.ABOVE_MAX_QUANTITY: (-1013, "Filter failure: LOT_SIZE"),
    Reject.BELOW_MIN_NOTIONAL: (-1013, "Filter failure: NOTIONAL"),
    Reject.INVALID_ORDER: (-1014, "Unsupported order combination."),
    Reject.INVALID_AMOUNT: (-1013, "Invalid quantity."),
    Reject.INVALID_CLIENT_ORDER_ID: (-1100, "Illegal characters found in parameter 'newClientOrderId'."),
    Reject.DUPLICATE_CLIENT_ORDER_ID: (-2010, "Duplicate order sent."),
    Reject.INSUFFICIENT_FUNDS: (-2010, INSUFFICIENT_BALANCE),
    Reject.POST_ONLY_WOULD_CROSS: (-2010, "Order would immediately match and take."),
    Reject.FOK_CANNOT_FILL: (-2010, "Order would not fill completely (FOK); it was not placed."),
    Reject.NO_LIQUIDITY: (-2010, "No orders on book for symbol."),
    Reject.MARKET_HALTED: (-1013, "Market is closed."),
    Reject.MARKET_CANCEL_ONLY: (-1013, "Market is closed."),
}


def place_rejected(code: Reject) -> BinanceError:
    """The Binance error for an engine rejection of a new order."""
    number, msg = _PLACE_REJECTS.get(code, (-2010, code.value.replace("_", " ")))
    return BinanceError(number, msg)


def cancel_rejected(code: Reject) -> BinanceError:
    """The Binance error for an engine rejection of a cancel."""
    if code in (Reject.MARKET_HALTED, Reject.MARKET_CANCEL_ONLY):
        return BinanceError(-2011, "Market is closed.")
    if code is Reject.UNKNOWN_MARKET:
        return INVALID_SYMBOL
    return UNKNOWN_ORDER_CANCEL


# Our stable codes (ApiError from shared code such as the signed-request check) in Binance terms.
_API_CODES: dict[str, tuple[int, str, int]] = {
    "TIMESTAMP_OUTSIDE_WINDOW": (-1021, "Timestamp for this request is outside of the recvWindow.", 400),
    "REPLAYED_REQUEST": (-1021, "Timestamp for this request was already used with the same parameters.", 400),
    "INVALID_RECV_WINDOW": (-1131, "recvWindow must be less than 60000", 400),
    "INVALID_SIGNATURE": (-1022, "Signature for this request is not valid.", 400),
    "INVALID_API_KEY": (-2015, BAD_API_KEY.msg, 401),
    "IP_NOT_ALLOWED": (-2015, BAD_API_KEY.msg, 401),
    "PERMISSION_DENIED": (-2015, BAD_API_KEY.msg, 401),
    "ACCOUNT_FROZEN": (-2015, BAD_API_KEY.msg, 401),
    "RATE_LIMITED": (-1003, "Too many requests; please use the websocket for live updates.", 429),
    "UNKNOWN_MARKET": (-1121, "Invalid symbol.", 400),
}


STATUS_UNKNOWN = BinanceError(
    -1007,
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    503,
)
"""The engine could not answer (stopped, or the cluster timed out): the order may or may not exist."""


def from_api_error(exc: ApiError) -> BinanceError:
    """Our ApiError in Binance terms (unknown codes keep their message under -1000)."""
    code, msg, status = _API_CODES.get(
        exc.code, (-1000, exc.message, exc.status if exc.status < 500 else 400)
    )
    return BinanceError(code, msg, status, exc.headers)


def error_response(error: BinanceError) -> JSONResponse:
    """The HTTP response of a Binance error."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


class BinanceRoute(APIRoute):
    """A route whose errors (its own, its dependencies', validation) answer in the Binance shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler to translate errors."""
        handler = super().get_route_handler()

        async def translate(request: Request) -> Response:
            try:
                return await handler(request)
            except BinanceError as exc:
                error = exc
            except ApiError as exc:
                error = from_api_error(exc)
            except ENGINE_DOWN:
                error = STATUS_UNKNOWN
            except RequestValidationError:
                error = BinanceError(-1100, "Illegal characters found in a parameter.")
            response = error_response(error)
            weight = getattr(request.state, "used_weight", None)
            if weight is not None and "x-mbx-used-weight-1m" not in response.headers:
                response.headers["X-MBX-USED-WEIGHT-1M"] = weight
            return response

        return translate
