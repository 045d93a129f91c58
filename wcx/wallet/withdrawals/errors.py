"""The pipeline's one exception: a stable code, a kind the API maps to a status, a message for people."""

from __future__ import annotations

from typing import Literal

Kind = Literal["invalid", "forbidden", "not_found", "conflict", "unavailable"]


class WithdrawalError(Exception):
    """A refused withdrawal operation; nothing was changed."""

    def __init__(self, kind: Kind, code: str, message: str) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.code = code
        self.message = message
