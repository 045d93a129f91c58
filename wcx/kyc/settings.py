"""KYC settings from the environment, `.env` and secret files (the same sources as the core settings).

KYC_ENCRYPTION_KEY is 32 random bytes, base64-encoded (standard or URL-safe alphabet). Outside
development the built-in development key is refused, as is any key that is not exactly 32 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.config.settings import Environment
from wcx.kyc.errors import KycConfigError

_DEV_KEY_SEED = b"wcx development KYC key: never for real personal data"
DEV_ENCRYPTION_KEY = base64.b64encode(hashlib.sha256(_DEV_KEY_SEED).digest()).decode()
DEV_WEBHOOK_SECRET = "dev-insecure-kyc-webhook-secret"


def decode_key(text: str) -> bytes:
    """The 32 raw bytes of a base64 key (either alphabet, padding optional); KycConfigError otherwise."""
    compact = text.strip()
    padded = compact + "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KycConfigError("KYC_ENCRYPTION_KEY must be base64") from None
    if len(raw) != 32:
        raise KycConfigError(f"KYC_ENCRYPTION_KEY must decode to 32 bytes (AES-256), got {len(raw)}")
    return raw


class KycSettings(BaseSettings):
    """The KYC context's own settings."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    wcx_env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("data")
    kyc_encryption_key: SecretStr = SecretStr(DEV_ENCRYPTION_KEY)
    kyc_encryption_old_keys: SecretStr = SecretStr("")
    """Comma-separated retired keys: decryption only, until `wcx kyc rotate-key` has rewritten everything."""
    kyc_config_file: Path | None = None
    kyc_storage_dir: Path | None = None
    kyc_default_tier: int | None = Field(None, ge=0, le=3)
    kyc_sanctions_files: str = ""
    """Comma-separated CSV files in the OFAC SDN layout (`name:path` to name a list, else the file stem)."""
    kyc_match_threshold: float = Field(88.0, gt=0, le=100)
    kyc_provider: str = "manual"
    kyc_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    kyc_webhook_window_s: int = Field(300, gt=0, le=3600)
    kyc_vendor_url: str = ""
    kyc_vendor_name: str = Field("vendor", pattern=r"^[a-z0-9_-]{1,32}$")

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> KycSettings:
        self.encryption_keys()
        if self.wcx_env is Environment.DEVELOPMENT:
            return self
        if self.kyc_encryption_key.get_secret_value().strip() == DEV_ENCRYPTION_KEY:
            raise KycConfigError(
                f"KYC_ENCRYPTION_KEY must be set to a random 32-byte key when WCX_ENV={self.wcx_env.value}"
            )
        if self.kyc_provider == "webhook":
            secret = self.kyc_webhook_secret.get_secret_value()
            if secret == DEV_WEBHOOK_SECRET or len(secret) < 32:
                raise KycConfigError(
                    "KYC_WEBHOOK_SECRET must be a random secret of at least 32 characters "
                    f"when WCX_ENV={self.wcx_env.value}"
                )
        return self

    @property
    def development(self) -> bool:
        """Whether development defaults (development tier, development key) apply."""
        return self.wcx_env is Environment.DEVELOPMENT

    def encryption_key(self) -> bytes:
        """The raw AES-256 key."""
        return decode_key(self.kyc_encryption_key.get_secret_value())

    def encryption_keys(self) -> list[bytes]:
        """The current key first, then the retired ones."""
        old = [decode_key(k) for k in self.kyc_encryption_old_keys.get_secret_value().split(",") if k.strip()]
        return [self.encryption_key(), *old]

    def storage_dir(self) -> Path:
        """Where encrypted documents live (KYC_STORAGE_DIR, else `data_dir/kyc/documents`)."""
        return self.kyc_storage_dir or self.data_dir / "kyc" / "documents"

    def sanctions_files(self) -> list[tuple[str, Path]]:
        """(list name, path) for every configured screening list."""
        out = []
        for item in filter(None, (part.strip() for part in self.kyc_sanctions_files.split(","))):
            name, sep, path = item.partition(":")
            out.append((name, Path(path)) if sep else (Path(item).stem, Path(item)))
        return out


def load_kyc_settings(**overrides: Any) -> KycSettings:
    """Read KYC settings; a bad value raises KycConfigError naming it."""
    try:
        return KycSettings(**overrides)
    except KycConfigError:
        raise
    except ValidationError as exc:
        raise KycConfigError(str(exc)) from exc
