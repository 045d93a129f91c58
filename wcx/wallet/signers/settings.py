"""Signer settings (env, `.env`, secret files) and the factory that builds the configured `Signer`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from wcx.config.settings import Environment
from wcx.wallet.signers.errors import SignerError
from wcx.wallet.signers.hsm import Pkcs11Signer
from wcx.wallet.signers.keystore import KeystoreSigner
from wcx.wallet.signers.port import Signer
from wcx.wallet.signers.token import DEFAULT_MODULE


class SignerBackend(StrEnum):
    """Which hot-wallet signer the process uses."""

    PKCS11 = "pkcs11"
    KEYSTORE = "keystore"


class SignerSettings(BaseSettings):
    """WALLET_SIGNER, PKCS11_MODULE, HSM_TOKEN_LABEL, HSM_KEY_LABEL, HSM_PIN(_FILE), KEYSTORE_*."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    wcx_env: Environment = Environment.DEVELOPMENT
    wallet_signer: SignerBackend = SignerBackend.PKCS11
    pkcs11_module: str = DEFAULT_MODULE
    hsm_token_label: str = "wcx-hot"
    hsm_key_label: str = "hot-wallet"
    hsm_pin: SecretStr = SecretStr("")
    hsm_pin_file: Path | None = None
    keystore_path: Path = Path("data/hot-wallet.keystore.json")
    keystore_password: SecretStr = SecretStr("")
    keystore_password_file: Path | None = None

    def pin(self) -> str:
        """HSM_PIN, else the first line of HSM_PIN_FILE (a Vault agent mount)."""
        return _secret(self.hsm_pin, self.hsm_pin_file, "HSM_PIN")

    def keystore_secret(self) -> str:
        """KEYSTORE_PASSWORD, else the first line of KEYSTORE_PASSWORD_FILE."""
        return _secret(self.keystore_password, self.keystore_password_file, "KEYSTORE_PASSWORD")


def build_signer(settings: SignerSettings) -> Signer:
    """The configured hot-wallet signer, connected and checked."""
    if settings.wallet_signer is SignerBackend.KEYSTORE:
        return KeystoreSigner(
            path=settings.keystore_path, password=settings.keystore_secret(), environment=settings.wcx_env
        )
    return Pkcs11Signer(
        module=settings.pkcs11_module,
        token_label=settings.hsm_token_label,
        pin=settings.pin(),
        key_label=settings.hsm_key_label,
    )


def _secret(value: SecretStr, path: Path | None, name: str) -> str:
    if value.get_secret_value():
        return value.get_secret_value()
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise SignerError(f"cannot read {name}_FILE {path}: {exc}") from exc
    raise SignerError(f"{name} (or {name}_FILE) must be set")
