"""The KYC exception tree: every refusal carries a stable machine-readable code and a kind.

The API maps `kind` to an HTTP status (invalid 400, not_found 404, conflict 409, forbidden 403,
too_large 413, unauthenticated 401); the code and message reach the client unchanged.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "not_found", "conflict", "forbidden", "too_large", "unauthenticated", "unavailable"]


class KycError(Exception):
    """A refused KYC operation: `code` is stable (UPPER_SNAKE_CASE), `message` is for people."""

    kind: Kind = "invalid"

    def __init__(self, code: str, message: str, *, kind: Kind | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if kind is not None:
            self.kind = kind


class DocumentRejectedError(KycError):
    """An uploaded document was refused (type, size, name, structure)."""


class IllegalTransitionError(KycError):
    """A status change the submission state machine does not allow."""

    kind: Kind = "conflict"


class NotFoundError(KycError):
    """No such submission, document or case (or not the caller's)."""

    kind: Kind = "not_found"


class WebhookRejectedError(KycError):
    """A provider callback that failed verification (signature, timestamp window, replay)."""

    kind: Kind = "unauthenticated"


class KycConfigError(ValueError):
    """The KYC configuration file or settings are unusable; the message names the entry."""
