"""Withdrawal policy from `config/withdrawals.toml`: per-asset fee, minimum, approval threshold and hot/cold
bounds. Amounts are parsed at the asset's scale and never rounded. Daily and monthly limits are the
KYC tier's (`config/kyc.toml`, enforced by the API through `wcx.kyc`).
Which chain and network an asset travels on comes from the chains configuration (`wcx.wallet.config`)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.primitives import AmountError, parse_amount
from wcx.wallet.config import ChainsConfig, ChainSpec

DEFAULT_WITHDRAWALS_FILE = Path(__file__).resolve().parents[3] / "config" / "withdrawals.toml"


class WithdrawalConfigError(ValueError):
    """The withdrawal policy file is malformed; the message names the entry."""


class WithdrawalSettings(BaseSettings):
    """Process settings of the withdrawal pipeline (env, `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    withdrawals_file: Path = DEFAULT_WITHDRAWALS_FILE
    withdrawal_poll_s: float = Field(2.0, gt=0)
    hot_wallet_check_s: float = Field(60.0, gt=0)
    btc_fee_bump_blocks: int = Field(6, ge=0)
    """Replace a Bitcoin payment by fee once it is this many blocks old and unconfirmed (0: never)."""


@dataclass(frozen=True, slots=True)
class AssetPolicy:
    """What one asset's withdrawals cost and need; amounts in minor units."""

    asset: str
    scale: int
    chain: str
    kind: str
    network: str
    fee: int
    minimum: int
    auto_approve_below: int
    hot_minimum: int
    hot_maximum: int
    cold_address: str
    sweep_minimum: int
    """A deposit address holding less of the asset is not swept (the gas would eat too much of it)."""


@dataclass(frozen=True, slots=True)
class WithdrawalPolicy:
    """The whole policy: assets, four-eyes rule, address-book delay (limits are the KYC tier's)."""

    assets: Mapping[str, AssetPolicy]
    approvals_required: int
    address_cooling_off_s: int


def _amount(entry: Mapping[str, Any], key: str, scale: int, where: str) -> int:
    try:
        return parse_amount(str(entry[key]), scale, allow_zero=True)
    except KeyError:
        raise WithdrawalConfigError(f"{where}: missing {key}") from None
    except AmountError as exc:
        raise WithdrawalConfigError(f"{where}: {key}: {exc}") from None


def _asset(code: str, entry: Mapping[str, Any], scale: int, chain: ChainSpec) -> AssetPolicy:
    where = f"assets.{code}"
    policy = AssetPolicy(
        asset=code,
        scale=scale,
        chain=chain.name,
        kind=chain.kind.value,
        network=chain.network.value,
        fee=_amount(entry, "fee", scale, where),
        minimum=_amount(entry, "minimum", scale, where),
        auto_approve_below=_amount(entry, "auto_approve_below", scale, where),
        hot_minimum=_amount(entry, "hot_minimum", scale, where),
        hot_maximum=_amount(entry, "hot_maximum", scale, where),
        cold_address=str(entry.get("cold_address", "")),
        sweep_minimum=_amount(
            entry, "sweep_minimum" if "sweep_minimum" in entry else "minimum", scale, where
        ),
    )
    if policy.minimum <= 0 or policy.sweep_minimum <= 0 or policy.hot_minimum > policy.hot_maximum:
        raise WithdrawalConfigError(
            f"{where}: minimum and sweep_minimum must be positive and hot_minimum <= hot_maximum"
        )
    return policy


def parse_policy(doc: Mapping[str, Any], scales: Mapping[str, int], chains: ChainsConfig) -> WithdrawalPolicy:
    """Validate a parsed TOML document against the exchange's asset scales and configured chains."""
    assets: dict[str, AssetPolicy] = {}
    # An asset this exchange does not list, or no chain carries, simply cannot be withdrawn.
    for code, entry in doc.get("assets", {}).items():
        try:
            chain, _ = chains.locate(code)
        except KeyError:
            continue
        if code in scales:
            assets[code] = _asset(code, entry, scales[code], chain)
    approvals = int(doc.get("approvals_required", 2))
    if approvals < 2:
        raise WithdrawalConfigError("approvals_required: four-eyes means at least 2")
    return WithdrawalPolicy(
        assets=assets,
        approvals_required=approvals,
        address_cooling_off_s=int(float(doc.get("address_cooling_off_hours", 24)) * 3600),
    )


def load_policy(path: Path, scales: Mapping[str, int], chains: ChainsConfig) -> WithdrawalPolicy:
    """Read and validate a withdrawal policy file."""
    with path.open("rb") as fh:
        return parse_policy(tomllib.load(fh), scales, chains)
