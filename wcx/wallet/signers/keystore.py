"""`KeystoreSigner`: a key in an encrypted keystore file (Web3 Secret Storage), for development only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account

from wcx.config.settings import Environment
from wcx.wallet.signers.errors import SignerError, SignerUnavailableError
from wcx.wallet.signers.metrics import observe_signing
from wcx.wallet.signers.signature import Signature, public_key_of, sign_with_private_key


def _refuse_outside_development(environment: Environment) -> None:
    if environment is not Environment.DEVELOPMENT:
        raise SignerError(
            f"the keystore signer is for development only (its key sits in process memory); refused when "
            f"WCX_ENV={environment.value}; use the PKCS#11 signer"
        )


class KeystoreSigner:
    """Signs with a secp256k1 key decrypted from a scrypt + AES keystore file; refused outside development."""

    backend = "keystore"

    def __init__(self, *, path: Path, password: str, environment: Environment) -> None:
        _refuse_outside_development(environment)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SignerUnavailableError(f"cannot read the keystore {path}: {exc}") from exc
        try:
            self._secret = bytes(Account.decrypt(document, password))
        except ValueError as exc:  # eth-account reports a wrong password as a MAC mismatch
            raise SignerUnavailableError(f"cannot decrypt the keystore {path}: {exc}") from exc
        self._public_key = public_key_of(self._secret)
        self._path = path

    @classmethod
    def create(
        cls, *, path: Path, password: str, environment: Environment, scrypt_n: int | None = None
    ) -> KeystoreSigner:
        """Generate a fresh key into a new keystore file (mode 0600, never overwritten).

        `scrypt_n` lowers the key-derivation cost (tests); the default is eth-account's 2**18.
        """
        _refuse_outside_development(environment)
        if len(password) < 8:
            raise SignerError("a keystore password must have at least 8 characters")
        account = Account.create()
        document = Account.encrypt(account.key, password, iterations=scrypt_n)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        return cls(path=path, password=password, environment=environment)

    @property
    def key_id(self) -> str:
        """`keystore:<file name>`."""
        return f"keystore:{self._path.name}"

    def public_key(self) -> bytes:
        """The 33-byte compressed public key."""
        return self._public_key

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest with the decrypted key (low-s, recovery id computed and checked)."""
        with observe_signing(self.backend):
            return sign_with_private_key(self._secret, digest)
