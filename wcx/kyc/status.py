"""The submission state machine: one explicit transition table, nothing else changes a status."""

from __future__ import annotations

from enum import StrEnum

from wcx.kyc.errors import IllegalTransitionError


class Status(StrEnum):
    """Where a submission is in its review."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    MORE_INFO_NEEDED = "more_info_needed"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.SUBMITTED}),
    Status.SUBMITTED: frozenset({Status.IN_REVIEW}),
    Status.IN_REVIEW: frozenset({Status.APPROVED, Status.REJECTED, Status.MORE_INFO_NEEDED}),
    # The user answers by editing and submitting again.
    Status.MORE_INFO_NEEDED: frozenset({Status.SUBMITTED}),
    # A re-screening hit on an approved user reopens the case for review.
    Status.APPROVED: frozenset({Status.IN_REVIEW}),
    Status.REJECTED: frozenset(),
}

EDITABLE = frozenset({Status.DRAFT, Status.MORE_INFO_NEEDED})
"""Statuses in which the user may change personal data and documents."""
OPEN = frozenset({Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.MORE_INFO_NEEDED})
"""Statuses of a submission still in progress (a user has at most one)."""
QUEUED = frozenset({Status.SUBMITTED, Status.IN_REVIEW})
"""Statuses a reviewer works on (the review queue)."""


def check_transition(current: Status, target: Status) -> None:
    """Raise IllegalTransitionError unless `current` → `target` is in the table."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransitionError(
            "KYC_ILLEGAL_TRANSITION", f"a submission cannot go from {current.value} to {target.value}"
        )
