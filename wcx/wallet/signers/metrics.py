"""Signer latency and error metrics (`wallet_signer_*`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

# An HSM round trip is milliseconds; a network HSM or a busy token can take a second.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SIGN_SECONDS = Histogram(
    "wallet_signer_sign_duration_seconds",
    "Time to sign one digest, by signer backend.",
    ["backend"],
    buckets=_BUCKETS,
)
SIGNATURES = Counter(
    "wallet_signer_signatures_total",
    "Digests signed successfully, by signer backend.",
    ["backend"],
)
SIGN_ERRORS = Counter(
    "wallet_signer_errors_total",
    "Signing attempts that failed, by signer backend and error class.",
    ["backend", "error"],
)


@contextmanager
def observe_signing(backend: str) -> Iterator[None]:
    """Time one signing call and count its success or its error class."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        SIGN_ERRORS.labels(backend, type(exc).__name__).inc()
        raise
    finally:
        SIGN_SECONDS.labels(backend).observe(time.perf_counter() - started)
    SIGNATURES.labels(backend).inc()
