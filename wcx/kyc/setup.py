"""Build the process's KYC service from settings: tiers, vault, sealer, screening lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from wcx.kyc.errors import KycConfigError
from wcx.kyc.providers import KycProvider, ManualReview, Sender, WebhookProvider
from wcx.kyc.screening import Screener, ScreeningList, load_list
from wcx.kyc.service import KycService
from wcx.kyc.settings import KycSettings
from wcx.kyc.tiers import DEFAULT_KYC_FILE, load_kyc_config
from wcx.kyc.vault import DocumentVault, Sealer


def load_lists(settings: KycSettings) -> list[ScreeningList]:
    """Every screening list the settings name, parsed."""
    return [load_list(name, path) for name, path in settings.sanctions_files()]


def http_sender(url: str, timeout_s: float = 30.0) -> Sender:
    """Posts signed cases to the vendor's URL; the vendor answers {"reference": "..."}."""

    async def send(_payload: dict[str, Any], headers: dict[str, str], body: bytes) -> str:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(
                url, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            response.raise_for_status()
            reference = response.json().get("reference")
        if not isinstance(reference, str) or not 0 < len(reference) <= 128:
            raise ValueError("the vendor answered without a usable reference")
        return reference

    return send


def create_provider(settings: KycSettings) -> KycProvider:
    """The provider KYC_PROVIDER names: `manual` (default) or `webhook` (needs KYC_VENDOR_URL)."""
    if settings.kyc_provider == "manual":
        return ManualReview()
    if settings.kyc_provider == "webhook":
        if not settings.kyc_vendor_url:
            raise KycConfigError("KYC_PROVIDER=webhook needs KYC_VENDOR_URL")
        return WebhookProvider(
            settings.kyc_vendor_name,
            settings.kyc_webhook_secret.get_secret_value().encode(),
            http_sender(settings.kyc_vendor_url),
            window_s=settings.kyc_webhook_window_s,
        )
    raise KycConfigError(f"KYC_PROVIDER must be manual or webhook, not {settings.kyc_provider!r}")


def create_kyc_service(settings: KycSettings, asset_scales: Mapping[str, int]) -> KycService:
    """The KYC service for one process (`asset_scales`: the exchange's assets, for the reference asset)."""
    config = load_kyc_config(settings.kyc_config_file or DEFAULT_KYC_FILE, asset_scales)
    if settings.kyc_default_tier is not None:
        default = settings.kyc_default_tier
    else:
        default = config.development_tier if settings.development else config.default_tier
    keys = settings.encryption_keys()
    return KycService(
        config,
        DocumentVault(settings.storage_dir(), keys),
        Sealer(keys),
        default_tier=default,
        screener=Screener(load_lists(settings), settings.kyc_match_threshold),
        provider=create_provider(settings),
    )
