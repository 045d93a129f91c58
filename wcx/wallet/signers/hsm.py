"""`Pkcs11Signer`: the hot-wallet secp256k1 key lives in an HSM and never leaves it."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from wcx.wallet.signers.errors import InsecureKeyError, KeyNotFoundError, SignerError, SignerUnavailableError
from wcx.wallet.signers.metrics import observe_signing
from wcx.wallet.signers.signature import (
    DIGEST_SIZE,
    Signature,
    compress_public_key,
    from_components,
    parse_token_signature,
)
from wcx.wallet.signers.token import RECONNECTABLE, open_session, reinitialize

SECP256K1_PARAMS = encode_named_curve_parameters("secp256k1")

# What a hot-wallet private key must look like on the token: generated there, never readable.
_REQUIRED_PRIVATE = {
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.ALWAYS_SENSITIVE: True,
    Attribute.NEVER_EXTRACTABLE: True,
    Attribute.LOCAL: True,
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
}


def generate_hot_key(*, module: str, token_label: str, pin: str, key_label: str) -> bytes:
    """Generate a secp256k1 key pair inside the token (sensitive, non-extractable); its public key."""
    session = open_session(module, token_label, pin, rw=True)
    try:
        if _find(session, ObjectClass.PRIVATE_KEY, key_label) is not None:
            raise SignerError(f"token {token_label!r} already holds a key labelled {key_label!r}")
        params = session.create_domain_parameters(
            KeyType.EC, {Attribute.EC_PARAMS: SECP256K1_PARAMS}, local=True
        )
        public, _private = params.generate_keypair(
            store=True,
            label=key_label,
            id=key_label.encode(),
            mechanism=Mechanism.EC_KEY_PAIR_GEN,
            public_template={Attribute.VERIFY: True, Attribute.TOKEN: True},
            private_template={
                Attribute.SIGN: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.DERIVE: False,
                Attribute.DECRYPT: False,
                Attribute.UNWRAP: False,
            },
        )
        return _public_point(public)
    except p11.PKCS11Error as exc:
        raise SignerError(f"key generation on token {token_label!r} failed: {exc!r}") from exc
    finally:
        session.close()


class Pkcs11Signer:
    """Signs digests with CKM_ECDSA on a secp256k1 key held by a PKCS#11 token (HSM; SoftHSM2 in tests).

    The token's raw or DER output is normalised to low-s and the recovery id is found by recovering
    both candidates against the token's public key, so every signature is checked before it is used.
    One session is kept open; it is serialised by a lock because PKCS#11 sessions are not thread-safe,
    and re-opened once when the device reports a lost session (HSM restart, token re-inserted).
    """

    backend = "pkcs11"

    def __init__(self, *, module: str, token_label: str, pin: str, key_label: str) -> None:
        self._module = module
        self._token_label = token_label
        self._pin = pin
        self._key_label = key_label
        self._lock = threading.Lock()
        self._session: Any = None
        self._private: Any = None
        self._public_key = self._connect()

    @property
    def key_id(self) -> str:
        """`pkcs11:<token label>/<key label>`."""
        return f"pkcs11:{self._token_label}/{self._key_label}"

    def public_key(self) -> bytes:
        """The 33-byte compressed public key read from the token."""
        return self._public_key

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest inside the token; low-s, recovery id computed, verified before return."""
        with observe_signing(self.backend):
            if not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_SIZE:
                raise SignerError(f"a digest must be exactly {DIGEST_SIZE} bytes")
            with self._lock:
                raw = self._sign_on_token(bytes(digest))
            r, s = parse_token_signature(raw)
            return from_components(r, s, bytes(digest), self._public_key)

    def close(self) -> None:
        """Close the token session."""
        with self._lock:
            self._close_session()

    def _sign_on_token(self, digest: bytes) -> bytes:
        try:
            return bytes(self._private.sign(digest, mechanism=Mechanism.ECDSA))
        except RECONNECTABLE:
            pass
        except p11.PKCS11Error as exc:
            raise SignerError(f"the token refused to sign: {exc!r}") from exc
        self._close_session()
        reinitialize(self._module)
        if self._connect() != self._public_key:
            raise SignerUnavailableError("the key on the token changed while reconnecting")
        try:
            return bytes(self._private.sign(digest, mechanism=Mechanism.ECDSA))
        except p11.PKCS11Error as exc:
            raise SignerError(f"the token refused to sign after reconnecting: {exc!r}") from exc

    def _connect(self) -> bytes:
        """Open a session, find the key pair, check it is a safe secp256k1 key; the public key."""
        session = open_session(self._module, self._token_label, self._pin)
        try:
            private = _find(session, ObjectClass.PRIVATE_KEY, self._key_label)
            public = _find(session, ObjectClass.PUBLIC_KEY, self._key_label)
            if private is None or public is None:
                raise KeyNotFoundError(
                    f"no EC key pair labelled {self._key_label!r} on token {self._token_label!r}"
                )
            if public[Attribute.EC_PARAMS] != SECP256K1_PARAMS:
                raise SignerError(f"key {self._key_label!r} is not on the secp256k1 curve")
            weak = [attr.name for attr, want in _REQUIRED_PRIVATE.items() if private[attr] != want]
            if weak:
                raise InsecureKeyError(
                    f"key {self._key_label!r} fails the hot-key policy on {', '.join(weak)}"
                )
            point = _public_point(public)
        except BaseException:
            session.close()
            raise
        self._session, self._private = session, private
        return point

    def _close_session(self) -> None:
        if self._session is not None:
            # A session the device already dropped cannot be closed again.
            with contextlib.suppress(p11.PKCS11Error):
                self._session.close()
        self._session = self._private = None


def _find(session: Any, object_class: ObjectClass, label: str) -> Any | None:
    """The one EC key of that class and label, None if absent; SignerError if ambiguous."""
    try:
        return session.get_key(object_class=object_class, key_type=KeyType.EC, label=label)
    except p11.NoSuchKey:
        return None
    except p11.MultipleObjectsReturned as exc:
        raise SignerError(f"several keys are labelled {label!r}") from exc


def _public_point(public: Any) -> bytes:
    """The compressed point of a token public key (CKA_EC_POINT is DER-wrapped on most tokens)."""
    point = bytes(public[Attribute.EC_POINT])
    # Raw points are 65 (uncompressed) or 33 bytes; DER OCTET STRING wrapping adds two.
    if len(point) in (67, 35) and point[0] == 0x04 and point[1] == len(point) - 2:
        point = point[2:]
    return compress_public_key(point)


__all__ = ["Pkcs11Signer", "generate_hot_key"]
