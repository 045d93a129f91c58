"""The one error shape every endpoint answers with: {"error": {"code": "...", "message": "..."}}.

Codes are stable, UPPER_SNAKE_CASE, machine-readable; messages are for people. A client mistake is
always a 4xx with a code; only a bug is a 500 (and it is logged, never shown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from wcx.cluster import ClusterUnavailableError
from wcx.engine import Reject
from wcx.sequencer import SequencerFailedError

logger = logging.getLogger(__name__)

# Engine rejections and the HTTP status each answers with; anything not listed is 400.
_REJECT_STATUS = {
    Reject.UNKNOWN_ORDER: 404,
    Reject.NOT_OWNER: 404,  # another user's order is indistinguishable from a missing one
    Reject.UNKNOWN_MARKET: 404,
    Reject.DUPLICATE_CLIENT_ORDER_ID: 409,
    Reject.DUPLICATE_REFERENCE: 409,
    Reject.INSUFFICIENT_FUNDS: 422,
    Reject.MARKET_HALTED: 409,
    Reject.MARKET_CANCEL_ONLY: 409,
}


class ErrorDetail(BaseModel):
    """A stable machine-readable code and a message for people."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "client error: a stable code and a message"},
}
"""Declared on every router so the OpenAPI document describes the one error shape."""


class ApiError(Exception):
    """Raise anywhere in a request to answer `status` with a stable `code`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    @classmethod
    def from_reject(cls, code: Reject, message: str = "") -> ApiError:
        """The API error for an engine rejection (NOT_OWNER answers as UNKNOWN_ORDER)."""
        if code is Reject.NOT_OWNER:
            code = Reject.UNKNOWN_ORDER
        return cls(_REJECT_STATUS.get(code, 400), code.value.upper(), message or code.value.replace("_", " "))


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(exc: ApiError) -> JSONResponse:
    """The response answering `exc`."""
    return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)


def invalid_request(errors: Sequence[Any]) -> JSONResponse:
    """422 INVALID_REQUEST listing each problem of a request (pydantic error dicts) by field."""
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"), "problem": err.get("msg", "")}
        for err in errors
    ]
    return JSONResponse(
        error_body("INVALID_REQUEST", "the request is malformed", fields=fields), status_code=422
    )


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return invalid_request(exc.errors())


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE"}.get(
        exc.status_code, "HTTP_ERROR"
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


ENGINE_DOWN = (ClusterUnavailableError, SequencerFailedError)
"""Exceptions of a command the engine could not take: answered 503, never 500."""


def engine_down_response(exc: Exception) -> JSONResponse:
    """503 ENGINE_UNAVAILABLE for one of ENGINE_DOWN, saying whether a retry is safe."""
    if isinstance(exc, ClusterUnavailableError):
        # The cluster port retried the same command ids until its deadline: retrying is safe.
        logger.warning("engine unavailable: %s", exc)
        message, retry_after = "the matching engine did not answer in time; retry the request", "1"
    else:
        # The batch failed to become durable (or the engine failed): whether it reaches the journal is
        # known only after the restart, so a retry must carry the same client_order_id (idempotent).
        logger.error("engine stopped: %s", exc)
        message = (
            "the matching engine stopped and is restarting; the outcome of this request is unknown "
            "until it is back: retry with the same client_order_id"
        )
        retry_after = "5"
    return JSONResponse(
        error_body("ENGINE_UNAVAILABLE", message), status_code=503, headers={"Retry-After": retry_after}
    )


async def _engine_down(_: Request, exc: Exception) -> JSONResponse:
    return engine_down_response(exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("INTERNAL", "internal error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, including framework ones, use the one shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in ENGINE_DOWN:
        app.add_exception_handler(kind, _engine_down)
    app.add_exception_handler(Exception, _unexpected)
