"""KYC metrics (`kyc_*`): status changes, refused documents, screening hits, refused webhooks, limit refusals.

Labels are bounded: statuses, error codes and list names come from closed sets or configuration.
"""

from __future__ import annotations

from prometheus_client import Counter

TRANSITIONS = Counter(
    "kyc_submission_transitions_total",
    "Submission status changes, by the status entered.",
    ["status"],
)
DOCUMENTS = Counter(
    "kyc_documents_total",
    "Uploaded documents, by outcome (stored, or the refusal code).",
    ["outcome"],
)
SCREENING_HITS = Counter(
    "kyc_screening_hits_total",
    "New screening hits (each sends a case to manual review), by list and by occasion (submit, rescreen).",
    ["list", "occasion"],
)
WEBHOOKS = Counter(
    "kyc_webhook_callbacks_total",
    "Provider callbacks, by outcome (applied, or the refusal code).",
    ["outcome"],
)
LIMIT_REFUSALS = Counter(
    "kyc_limit_refusals_total",
    "Operations refused by a KYC tier limit, by code.",
    ["code"],
)
