"""Process settings from the environment, `.env` and secret files (pydantic-settings)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.journal.snapshots import SNAPSHOT_EVERY, SNAPSHOT_INTERVAL_S

DEV_SECRET = "dev-insecure-change-me-not-for-production"


class Environment(StrEnum):
    """Where the process runs; anything but development demands real secrets."""

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """Settings that must not be used to start the exchange."""


class Settings(BaseSettings):
    """Everything configurable, with embedded defaults that run a development exchange on one machine."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    wcx_env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("data")
    database_url: str = ""
    db_creds_path: Path | None = None
    redis_url: str = ""
    jwt_secret: SecretStr = SecretStr(DEV_SECRET)
    refresh_secret: SecretStr = SecretStr(DEV_SECRET)
    log_level: str = "INFO"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(8081, ge=0, le=65535)
    markets_file: Path | None = None
    access_token_ttl_s: int = Field(900, gt=0)
    refresh_token_ttl_s: int = Field(30 * 24 * 3600, gt=0)
    otel_exporter_otlp_endpoint: str = ""
    projector: Literal["process", "inline"] = "process"
    """Where the SQL projector runs: its own process (another core) or the server's event loop."""
    snapshot_every: int = Field(SNAPSHOT_EVERY, ge=1)
    """An engine snapshot after this many commands since the previous one..."""
    snapshot_interval_s: float = Field(SNAPSHOT_INTERVAL_S, gt=0)
    """...or this many seconds, whichever comes first (taken by the projector process when there is one)."""

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.wcx_env is Environment.DEVELOPMENT:
            return self
        for name in ("jwt_secret", "refresh_secret"):
            value = getattr(self, name).get_secret_value()
            if value == DEV_SECRET or len(value) < 32:
                raise SettingsError(
                    f"{name.upper()} must be set to a random secret of at least 32 characters "
                    f"when WCX_ENV={self.wcx_env.value}"
                )
        return self

    @property
    def development(self) -> bool:
        """Whether development conveniences (auto-verified email, dev credit) are allowed."""
        return self.wcx_env is Environment.DEVELOPMENT

    @property
    def journal_root(self) -> Path:
        """Where the command journal keeps its segments (`journal/`) and snapshots (`snapshots/`)."""
        return self.data_dir / "journal"

    def resolved_database_url(self) -> str:
        """DATABASE_URL, else the URL in DB_CREDS_PATH (Vault agent), else SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        if self.db_creds_path is not None:
            return self.db_creds_path.read_text(encoding="utf-8").strip()
        return f"sqlite+aiosqlite:///{self.data_dir / 'wcx.sqlite3'}"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a bad value is a SettingsError with a message naming it."""
    try:
        return Settings(**overrides)
    except SettingsError:
        raise
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
