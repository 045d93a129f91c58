"""The `KycProvider` port: who verifies a submitted case. Built in: manual review by the back office.
The webhook adapter hands cases to an external vendor and takes its verdict back through signed
callbacks.

Callbacks (and the adapter's own outbound requests) carry two headers:
  X-WCX-Webhook-Timestamp  Unix seconds when the message was signed
  X-WCX-Webhook-Signature  "v1=" + hex HMAC-SHA256(secret, timestamp + "." + body)
A callback is refused when the signature does not verify (`KYC_WEBHOOK_SIGNATURE_INVALID`), when its
timestamp is outside the window (`KYC_WEBHOOK_STALE`), or when its event id was seen before
(`KYC_WEBHOOK_REPLAYED`; event ids are stored in `kyc_webhook_events`). The body is JSON:
  {"event_id": "...", "reference": "<the vendor's case reference>",
   "outcome": "approved" | "rejected" | "more_info" | "review", "reason": "..."}
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wcx.kyc.errors import WebhookRejectedError
from wcx.kyc.personal import PersonalData

TIMESTAMP_HEADER = "x-wcx-webhook-timestamp"
SIGNATURE_HEADER = "x-wcx-webhook-signature"
SCHEME = "v1="


class Outcome(StrEnum):
    """A vendor's verdict on a case."""

    APPROVED = "approved"
    REJECTED = "rejected"
    MORE_INFO = "more_info"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class ProviderDocument:
    """A document handed to a provider (decrypted)."""

    kind: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ProviderCase:
    """What a provider needs to verify a submitted case."""

    submission_id: int
    user_id: int
    requested_tier: int
    personal_data: PersonalData
    documents: tuple[ProviderDocument, ...]


class KycProvider(Protocol):
    """Verifies submitted cases; `start` returns the provider's reference (None: reviewed in-house)."""

    name: str

    async def start(self, case: ProviderCase) -> str | None:
        """Hand a submitted case over."""
        ...


class ManualReview:
    """The built-in provider: cases wait in the back office's review queue."""

    name = "manual"

    async def start(self, case: ProviderCase) -> str | None:
        """Nothing to send: the case is already in the queue."""
        return None


class VendorEvent(BaseModel):
    """A verified callback."""

    model_config = ConfigDict(extra="ignore")

    event_id: str = Field(min_length=1, max_length=128)
    reference: str = Field(min_length=1, max_length=128)
    outcome: Outcome
    reason: str = Field("", max_length=2000)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` signed at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return SCHEME + mac


def signed_headers(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Both webhook headers for `body`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"X-WCX-Webhook-Timestamp": str(stamp), "X-WCX-Webhook-Signature": sign(secret, stamp, body)}


Sender = Callable[[dict[str, Any], dict[str, str], bytes], Awaitable[str]]
"""Posts a signed case to the vendor: (payload, headers, body) -> the vendor's reference."""


class WebhookProvider:
    """An external vendor: cases go out signed, verdicts come back as signed, replay-protected callbacks."""

    def __init__(
        self,
        name: str,
        secret: bytes,
        send: Sender,
        *,
        window_s: int = 300,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._secret = secret
        self._send = send
        self.window_s = window_s
        self._clock = clock

    async def start(self, case: ProviderCase) -> str | None:
        """Send the case (personal data and documents, base64) and return the vendor's reference."""
        payload = {
            "external_id": f"wcx-{case.submission_id}",
            "requested_tier": case.requested_tier,
            "personal_data": case.personal_data.model_dump(mode="json", exclude_none=True),
            "documents": [
                {"kind": d.kind, "content_type": d.content_type, "data": base64.b64encode(d.data).decode()}
                for d in case.documents
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self._send(payload, signed_headers(self._secret, body, int(self._clock())), body)

    def verify(self, headers: Mapping[str, str], body: bytes) -> VendorEvent:
        """The callback's event if its signature and timestamp hold (replay by event id is checked by
        the service when it records the event)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        stamp, signature = lowered.get(TIMESTAMP_HEADER, ""), lowered.get(SIGNATURE_HEADER, "")
        if not stamp.isdigit() or len(stamp) > 12:
            raise WebhookRejectedError("KYC_WEBHOOK_SIGNATURE_INVALID", "missing or malformed timestamp")
        if not hmac.compare_digest(sign(self._secret, int(stamp), body), signature.strip()):
            raise WebhookRejectedError("KYC_WEBHOOK_SIGNATURE_INVALID", "the signature does not verify")
        if abs(self._clock() - int(stamp)) > self.window_s:
            raise WebhookRejectedError(
                "KYC_WEBHOOK_STALE", f"the timestamp is more than {self.window_s} s from the server's clock"
            )
        try:
            return VendorEvent.model_validate_json(body)
        except ValidationError:
            raise WebhookRejectedError(
                "KYC_WEBHOOK_INVALID", "the callback body is not a valid event", kind="invalid"
            ) from None
