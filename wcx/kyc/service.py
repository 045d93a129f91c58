"""The KYC service: profiles and tiers, submissions and documents, screening, review, vendors.

`KycService` puts together the parts, one module each (`profiles`, `submissions`, `rescreening`,
`review`, `vendors`) over a shared core (`core.KycCore`: configuration, vault, clock and the one
status writer). Every method takes the caller's connection (`conn`) and works inside the caller's
transaction, so an endpoint commits a decision, its history row and its audit record together. Use
one `KycService` per process (`runtime.kyc`).
"""

from __future__ import annotations

from wcx.kyc.core import SYSTEM, utc_now
from wcx.kyc.profiles import Profiles
from wcx.kyc.rescreening import Rescreening
from wcx.kyc.review import Decision, Review
from wcx.kyc.submissions import Submissions
from wcx.kyc.vendors import Vendors

__all__ = ["SYSTEM", "Decision", "KycService", "utc_now"]


class KycService(Profiles, Submissions, Rescreening, Review, Vendors):
    """Tiers, submissions, documents, screening, review decisions and vendors over the caller's connection."""
