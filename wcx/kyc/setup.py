"""Build the process's KYC service from settings: tiers, vault, sealer, screening lists."""

from __future__ import annotations

from collections.abc import Mapping

from wcx.kyc.screening import Screener, ScreeningList, load_list
from wcx.kyc.service import KycService
from wcx.kyc.settings import KycSettings
from wcx.kyc.tiers import DEFAULT_KYC_FILE, load_kyc_config
from wcx.kyc.vault import DocumentVault, Sealer


def load_lists(settings: KycSettings) -> list[ScreeningList]:
    """Every screening list the settings name, parsed."""
    return [load_list(name, path) for name, path in settings.sanctions_files()]


def create_kyc_service(settings: KycSettings, asset_scales: Mapping[str, int]) -> KycService:
    """The KYC service for one process (`asset_scales`: the exchange's assets, for the reference asset)."""
    config = load_kyc_config(settings.kyc_config_file or DEFAULT_KYC_FILE, asset_scales)
    if settings.kyc_default_tier is not None:
        default = settings.kyc_default_tier
    else:
        default = config.development_tier if settings.development else config.default_tier
    key = settings.encryption_key()
    return KycService(
        config,
        DocumentVault(settings.storage_dir(), key),
        Sealer(key),
        default_tier=default,
        screener=Screener(load_lists(settings), settings.kyc_match_threshold),
    )
