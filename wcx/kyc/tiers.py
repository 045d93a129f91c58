"""Tiers 0–3 from `config/kyc.toml`: what each requires and what it allows.

Limits are held as ints of the reference asset's minor units (None = unlimited); the loader needs
the reference asset's scale, which comes from the exchange's reference data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wcx.kyc.errors import KycConfigError
from wcx.primitives import AmountError, parse_amount

DEFAULT_KYC_FILE = Path(__file__).resolve().parents[2] / "config" / "kyc.toml"
LEVELS = range(4)
UNLIMITED = "unlimited"

PERSONAL_FIELDS = frozenset(
    {"full_name", "date_of_birth", "country", "address", "nationality", "occupation", "id_number"}
)
DOCUMENT_KINDS = frozenset(
    {"id_document", "id_document_back", "selfie", "proof_of_address", "source_of_funds"}
)


@dataclass(frozen=True, slots=True)
class TierLimits:
    """What a tier allows; amounts in minor units of the reference asset, None = unlimited."""

    level: int
    name: str
    trading: bool
    withdrawal_daily: int | None
    withdrawal_monthly: int | None
    deposit_daily: int | None
    deposit_monthly: int | None
    personal_data: frozenset[str]
    documents: frozenset[str]


@dataclass(frozen=True, slots=True)
class KycConfig:
    """The parsed KYC configuration."""

    reference_asset: str
    reference_scale: int
    default_tier: int
    development_tier: int
    max_document_bytes: int
    max_documents_per_submission: int
    tiers: tuple[TierLimits, ...]

    def tier(self, level: int) -> TierLimits:
        """The limits of tier `level` (0–3)."""
        if level not in LEVELS:
            raise KycConfigError(f"no tier {level}")
        return self.tiers[level]


def _limit(entry: dict[str, Any], key: str, scale: int, where: str) -> int | None:
    if key not in entry:
        raise KycConfigError(f"{where}: missing {key}")
    text = str(entry[key])
    if text == UNLIMITED:
        return None
    try:
        return parse_amount(text, scale, allow_zero=True)
    except AmountError as exc:
        raise KycConfigError(f"{where}: {key}: {exc}") from None


def _names(entry: dict[str, Any], key: str, allowed: frozenset[str], where: str) -> frozenset[str]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise KycConfigError(f"{where}: {key} must be a list of names")
    unknown = set(values) - allowed
    if unknown:
        raise KycConfigError(f"{where}: unknown {key} {sorted(unknown)}; known: {sorted(allowed)}")
    return frozenset(values)


def parse_kyc_config(doc: dict[str, Any], reference_scale: int) -> KycConfig:
    """Validate a parsed TOML document (tiers 0–3, each requiring at least what the one below does)."""
    entries = doc.get("tiers")
    if not isinstance(entries, list) or sorted(e.get("level", -1) for e in entries) != list(LEVELS):
        raise KycConfigError("tiers: exactly one entry for each level 0, 1, 2, 3")
    tiers: list[TierLimits] = []
    for entry in sorted(entries, key=lambda e: int(e["level"])):
        where = f"tier {entry['level']}"
        if not isinstance(entry.get("trading"), bool):
            raise KycConfigError(f"{where}: trading must be true or false")
        tier = TierLimits(
            level=int(entry["level"]),
            name=str(entry.get("name", f"Tier {entry['level']}")),
            trading=entry["trading"],
            withdrawal_daily=_limit(entry, "withdrawal_daily", reference_scale, where),
            withdrawal_monthly=_limit(entry, "withdrawal_monthly", reference_scale, where),
            deposit_daily=_limit(entry, "deposit_daily", reference_scale, where),
            deposit_monthly=_limit(entry, "deposit_monthly", reference_scale, where),
            personal_data=_names(entry, "personal_data", PERSONAL_FIELDS, where),
            documents=_names(entry, "documents", DOCUMENT_KINDS, where),
        )
        if tiers and not (
            tiers[-1].personal_data <= tier.personal_data and tiers[-1].documents <= tier.documents
        ):
            raise KycConfigError(f"{where}: must require everything tier {tiers[-1].level} requires")
        tiers.append(tier)
    config = KycConfig(
        reference_asset=str(doc.get("reference_asset", "")),
        reference_scale=reference_scale,
        default_tier=int(doc.get("default_tier", 0)),
        development_tier=int(doc.get("development_tier", doc.get("default_tier", 0))),
        max_document_bytes=int(doc.get("max_document_bytes", 5 * 1024 * 1024)),
        max_documents_per_submission=int(doc.get("max_documents_per_submission", 10)),
        tiers=tuple(tiers),
    )
    if not config.reference_asset:
        raise KycConfigError("reference_asset is required")
    for name in ("default_tier", "development_tier"):
        if getattr(config, name) not in LEVELS:
            raise KycConfigError(f"{name} must be 0–3")
    if config.max_document_bytes <= 0 or config.max_documents_per_submission <= 0:
        raise KycConfigError("document limits must be positive")
    return config


def read_kyc_file(path: Path) -> dict[str, Any]:
    """The parsed TOML document of a KYC file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KycConfigError(f"{path}: {exc}") from None


def load_kyc_config(path: Path, asset_scales: Mapping[str, int]) -> KycConfig:
    """Read and validate the KYC file; its reference asset must be one of `asset_scales`."""
    doc = read_kyc_file(path)
    reference = doc.get("reference_asset", "")
    if reference not in asset_scales:
        raise KycConfigError(f"{path}: reference_asset {reference!r} is not an asset of the exchange")
    return parse_kyc_config(doc, asset_scales[reference])
