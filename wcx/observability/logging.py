"""One JSON object a line (structlog), carrying the request id and trace id of the current request."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_HANDLER_NAME = "wcx-json"


def configure_logging(level: str = "INFO") -> None:
    """Route structlog and the standard library's loggers (uvicorn, sqlalchemy, wcx) to JSON on stderr."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        # Filtering first: an event below the level (the access log at WARNING) costs a level check
        # instead of the whole chain (time stamp, context merge) before the standard library drops it.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    root = logging.getLogger()
    # Configuring twice (tests, reloads) replaces our handler instead of duplicating every line.
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours (the gateway logs one line per request).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    """A structlog logger (key-value events rendered as JSON)."""
    return structlog.stdlib.get_logger(name)


def bind_request(request_id: str, trace_id: str) -> None:
    """Attach the ids to every log line written while this request is handled."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
