"""KYC: verification tiers and their limits, submissions with encrypted documents, sanctions/PEP
screening, review decisions, and the provider port. See docs/kyc.md.

`KycService` (one per process, `runtime.kyc`) is the entry point; its methods take the caller's
connection and run inside the caller's transaction.
"""

from wcx.kyc.errors import (
    DocumentRejectedError,
    IllegalTransitionError,
    KycConfigError,
    KycError,
    NotFoundError,
    WebhookRejectedError,
)
from wcx.kyc.limits import FixedPrices, LimitExceeded, PriceSource
from wcx.kyc.personal import PersonalData
from wcx.kyc.service import Decision, KycService
from wcx.kyc.settings import KycSettings, load_kyc_settings
from wcx.kyc.setup import create_kyc_service, load_lists
from wcx.kyc.status import Status
from wcx.kyc.tiers import KycConfig, TierLimits
from wcx.kyc.views import CaseView, DocumentView, HistoryView, HitView, LimitsView, QueueItem, SubmissionView

__all__ = [
    "CaseView",
    "Decision",
    "DocumentRejectedError",
    "DocumentView",
    "FixedPrices",
    "HistoryView",
    "HitView",
    "IllegalTransitionError",
    "KycConfig",
    "KycConfigError",
    "KycError",
    "KycService",
    "KycSettings",
    "LimitExceeded",
    "LimitsView",
    "NotFoundError",
    "PersonalData",
    "PriceSource",
    "QueueItem",
    "Status",
    "SubmissionView",
    "TierLimits",
    "WebhookRejectedError",
    "create_kyc_service",
    "load_kyc_settings",
    "load_lists",
]
