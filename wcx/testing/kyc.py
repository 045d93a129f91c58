"""KYC test kit: a service over a temporary vault, sample documents made on the fly, fixed prices."""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image
from pypdf import PdfWriter

from wcx.kyc.limits import FixedPrices
from wcx.kyc.providers import KycProvider, WebhookProvider, sign, signed_headers
from wcx.kyc.screening import Screener, ScreeningList
from wcx.kyc.service import KycService, utc_now
from wcx.kyc.tiers import DEFAULT_KYC_FILE, load_kyc_config
from wcx.kyc.vault import DocumentVault, Sealer

DEMO_SCALES = {"BTC": 8, "ETH": 18, "USDT": 6}


def make_kyc_service(
    root: Path,
    *,
    default_tier: int = 0,
    lists: Sequence[ScreeningList] = (),
    clock: Callable[[], datetime] = utc_now,
    key: bytes | Sequence[bytes] | None = None,
    provider: KycProvider | None = None,
) -> KycService:
    """A KYC service with the shipped tiers, documents under `root`, a random key (or `key`: one key, or
    the current key followed by retired ones)."""
    keys = key or secrets.token_bytes(32)
    return KycService(
        load_kyc_config(DEFAULT_KYC_FILE, DEMO_SCALES),
        DocumentVault(root, keys),
        Sealer(keys),
        default_tier=default_tier,
        screener=Screener(lists),
        provider=provider,
        clock=clock,
    )


def demo_prices(btc: str = "65000", eth: str = "3200") -> FixedPrices:
    """Prices in USDT minor units per minor unit of BTC and ETH (from whole-unit USDT prices)."""
    return FixedPrices(
        "USDT",
        {
            "BTC": Fraction(btc) * 10**6 / 10**8,
            "ETH": Fraction(eth) * 10**6 / 10**18,
        },
    )


def sample_png(size: tuple[int, int] = (64, 48), text: bytes = b"") -> bytes:
    """A real PNG (a gradient), optionally carrying `text` in a tEXt chunk."""
    from PIL.PngImagePlugin import PngInfo

    image = Image.new("RGB", size)
    image.putdata([(x * 4 % 256, y * 5 % 256, 128) for y in range(size[1]) for x in range(size[0])])
    info = PngInfo()
    if text:
        info.add_text("Comment", text.decode())
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def sample_jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    """A real baseline JPEG."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def sample_pdf(pages: int = 1, title: str = "passport scan") -> bytes:
    """A real PDF with blank pages and a title in its metadata."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def elf_executable() -> bytes:
    """The first bytes of an x86-64 ELF executable (enough to be one by content)."""
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + b"\x02\x00\x3e\x00" + secrets.token_bytes(200)


def windows_executable() -> bytes:
    """A PE/MZ header followed by junk."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + secrets.token_bytes(300)


class FakeKycVendor:
    """An external verification vendor in memory: receives signed cases, signs its verdict callbacks.

    Use `provider()` as the service's provider; `callback(...)` gives the (headers, body) the vendor
    would POST to `/api/v1/kyc/webhooks/<name>`.
    """

    def __init__(self, name: str = "fakevendor", secret: bytes | None = None) -> None:
        self.name = name
        self.secret = secret or secrets.token_bytes(32)
        self.cases: dict[str, dict[str, Any]] = {}
        self.refuse_next = False
        self._events = 0

    async def receive(self, payload: dict[str, Any], headers: dict[str, str], body: bytes) -> str:
        """The vendor's intake: checks our signature like a real vendor would, returns its reference."""
        stamp = int(headers["X-WCX-Webhook-Timestamp"])
        if headers["X-WCX-Webhook-Signature"] != sign(self.secret, stamp, body):
            raise AssertionError("the exchange sent an unsigned or mis-signed case")
        if self.refuse_next:
            self.refuse_next = False
            raise ConnectionError("vendor unavailable")
        reference = f"{self.name}-{len(self.cases) + 1}"
        self.cases[reference] = payload
        return reference

    def provider(self, *, window_s: int = 300, clock: Callable[[], float] = time.time) -> WebhookProvider:
        """The webhook adapter wired to this vendor."""
        return WebhookProvider(self.name, self.secret, self.receive, window_s=window_s, clock=clock)

    def callback(
        self,
        reference: str,
        outcome: str,
        reason: str = "",
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A signed verdict (a fresh event id unless given)."""
        self._events += 1
        event = {
            "event_id": event_id or f"evt-{self._events}-{secrets.token_hex(4)}",
            "reference": reference,
            "outcome": outcome,
            "reason": reason,
        }
        body = json.dumps(event).encode()
        headers = signed_headers(secret or self.secret, body, timestamp)
        return {**headers, "Content-Type": "application/json"}, body
