"""The deposit seed of the automatic sweeper: a BIP32 seed of its own (not the cold wallet's), stored only
encrypted with AES-256-GCM under a key generated inside the HSM that can never leave it (CKA_SENSITIVE,
not CKA_EXTRACTABLE). The wallet process has the HSM decrypt it and keeps it in memory only; deposit
keys are derived from it per sweep. The record's watch-only keys are the GCM associated data, so a
record whose keys were edited does not decrypt.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams

from wcx.wallet.config import ChainKind, ChainSpec, Network
from wcx.wallet.signers.derived import DerivedKeySigner, bitcoin_private_key, ethereum_private_key
from wcx.wallet.signers.errors import SignerError
from wcx.wallet.signers.token import open_session
from wcx.wallet.sweeps.signing import KeyFor

SEED_FORMAT = "wcx-deposit-seed/1"
_NONCE_BYTES = 12
_TAG_BITS = 128


class DepositSeedError(SignerError):
    """The sealed deposit seed cannot be created or opened; the message says why."""


@dataclass(frozen=True, slots=True)
class SealedSeed:
    """The deposit-seed file: which HSM key seals it, the nonce and ciphertext, and its watch-only keys."""

    key_label: str
    nonce: bytes
    ciphertext: bytes
    eth_xpub: str
    btc_xpub: str

    def associated_data(self) -> bytes:
        """What the ciphertext is bound to besides the key: the format, the key label, the xpubs."""
        return _associated_data(self.key_label, self.eth_xpub, self.btc_xpub)

    def to_json(self) -> dict[str, Any]:
        """The file's document (no secret in clear)."""
        return {
            "format": SEED_FORMAT,
            "key_label": self.key_label,
            "nonce": self.nonce.hex(),
            "ciphertext": self.ciphertext.hex(),
            "eth_xpub": self.eth_xpub,
            "btc_xpub": self.btc_xpub,
        }

    @classmethod
    def load(cls, path: Path) -> SealedSeed:
        """Read a deposit-seed file; DepositSeedError if it is not one."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document["format"] != SEED_FORMAT:
                raise ValueError(f"format {document['format']!r}")
            return cls(
                key_label=str(document["key_label"]),
                nonce=bytes.fromhex(document["nonce"]),
                ciphertext=bytes.fromhex(document["ciphertext"]),
                eth_xpub=str(document["eth_xpub"]),
                btc_xpub=str(document["btc_xpub"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DepositSeedError(f"{path}: not a deposit-seed file ({exc})") from None


def _associated_data(key_label: str, eth_xpub: str, btc_xpub: str) -> bytes:
    return "\n".join((SEED_FORMAT, key_label, eth_xpub, btc_xpub)).encode()


def seal_seed(
    seed: bytes, *, module: str, token_label: str, pin: str, key_label: str, eth_xpub: str, btc_xpub: str
) -> SealedSeed:
    """Generate a non-extractable AES-256 key in the token and encrypt `seed` under it (AES-GCM)."""
    session = open_session(module, token_label, pin, rw=True)
    try:
        if _find(session, key_label) is not None:
            raise DepositSeedError(f"token {token_label!r} already holds a key labelled {key_label!r}")
        key = session.generate_key(
            KeyType.AES,
            256,
            label=key_label,
            store=True,
            template={
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.PRIVATE: True,
                Attribute.ENCRYPT: True,
                Attribute.DECRYPT: True,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.SIGN: False,
                Attribute.DERIVE: False,
            },
        )
        nonce = secrets.token_bytes(_NONCE_BYTES)
        params = GCMParams(nonce, _associated_data(key_label, eth_xpub, btc_xpub), _TAG_BITS)
        ciphertext = bytes(key.encrypt(seed, mechanism=Mechanism.AES_GCM, mechanism_param=params))
    except p11.PKCS11Error as exc:
        raise DepositSeedError(f"the token could not seal the deposit seed: {exc!r}") from exc
    finally:
        session.close()
    return SealedSeed(key_label, nonce, ciphertext, eth_xpub, btc_xpub)


def unseal_seed(sealed: SealedSeed, *, module: str, token_label: str, pin: str) -> bytes:
    """The seed, decrypted by the token (blocking); DepositSeedError if the key or the record do not match."""
    session = open_session(module, token_label, pin)
    try:
        key = _find(session, sealed.key_label)
        if key is None:
            raise DepositSeedError(f"token {token_label!r} holds no key labelled {sealed.key_label!r}")
        if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
            raise DepositSeedError(f"key {sealed.key_label!r} can leave the token: refusing it")
        params = GCMParams(sealed.nonce, sealed.associated_data(), _TAG_BITS)
        return bytes(key.decrypt(sealed.ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params))
    except p11.PKCS11Error as exc:
        # GCM authentication failed: another key, or a record edited after sealing
        raise DepositSeedError(
            f"the deposit seed does not decrypt under {sealed.key_label!r}: {exc!r}"
        ) from exc
    finally:
        session.close()


def _find(session: Any, label: str) -> Any | None:
    try:
        return session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=label)
    except p11.NoSuchKey:
        return None


class DepositKeys:
    """The unsealed deposit seed in memory: the deposit key of any chain at any index."""

    def __init__(self, seed: bytes, key_label: str) -> None:
        self._seed = seed
        self._label = key_label

    def key_for(self, spec: ChainSpec) -> KeyFor:
        """The deposit keys of `spec`'s chain by key index (user id)."""

        def key(index: int) -> DerivedKeySigner:
            if spec.kind is ChainKind.ETHEREUM:
                secret = ethereum_private_key(self._seed, index)
                return DerivedKeySigner(secret, f"deposit-seed:{self._label}/m/44'/60'/0'/0/{index}")
            mainnet = spec.network is Network.MAINNET
            secret = bitcoin_private_key(self._seed, index, mainnet=mainnet)
            return DerivedKeySigner(
                secret, f"deposit-seed:{self._label}/m/84'/{0 if mainnet else 1}'/0'/0/{index}"
            )

        return key
