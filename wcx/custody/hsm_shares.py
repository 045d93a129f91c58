"""Share custody in HSM tokens: deploy a share as a sensitive secret object, export it for recovery.

A share is stored as a CKO_SECRET_KEY / CKK_GENERIC_SECRET with CKA_SENSITIVE (its value can never
be read as an attribute), no signing/encryption capabilities and CKA_MODIFIABLE false. It stays
extractable only *wrapped*, because a share that can never leave its token could never take part in
a recovery; a production HSM policy can narrow this further with CKA_WRAP_WITH_TRUSTED.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from wcx.custody.errors import CustodyError, ShareError
from wcx.custody.shares import check_location, parse_mnemonic, read_share_file, shred
from wcx.wallet.signers.token import open_session

LABEL_PREFIX = "wcx-share:"
_WRAP_BLOCK = 8  # RFC 3394 wraps whole 64-bit blocks; values are space-padded to a multiple of it


@dataclass(frozen=True, slots=True)
class DeployedShare:
    """Where a share now lives, and which share it is (never its words)."""

    location: str
    token_label: str
    object_label: str
    share_set: int
    member_index: int


def share_label(location: str) -> str:
    """The token object label of a location's share."""
    return LABEL_PREFIX + check_location(location)


def deploy_share(
    *, module: str, token_label: str, pin: str, location: str, share_file: Path
) -> DeployedShare:
    """Store the share file's mnemonic in the token, verify it reads back wrapped, then shred the file."""
    parsed = read_share_file(share_file)
    if parsed.location != location:
        raise ShareError(f"{share_file} belongs to location {parsed.location!r}, not {location!r}")
    label = share_label(location)
    session = open_session(module, token_label, pin, rw=True)
    try:
        if _find_share(session, label) is not None:
            raise CustodyError(f"token {token_label!r} already holds a share for location {location!r}")
        value = _pad(parsed.mnemonic.encode("ascii"))
        try:
            stored = session.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: True,
                    Attribute.MODIFIABLE: False,
                    Attribute.SIGN: False,
                    Attribute.VERIFY: False,
                    Attribute.ENCRYPT: False,
                    Attribute.DECRYPT: False,
                    Attribute.DERIVE: False,
                    Attribute.WRAP: False,
                    Attribute.UNWRAP: False,
                    Attribute.LABEL: label,
                    Attribute.ID: f"{parsed.share.identifier}-{parsed.share.index}".encode(),
                    Attribute.VALUE: value,
                }
            )
        except p11.PKCS11Error as exc:
            raise CustodyError(f"token {token_label!r} refused the share object: {exc!r}") from exc
        try:
            _verify_stored(session, stored, value)
        except BaseException:
            with contextlib.suppress(p11.PKCS11Error):
                stored.destroy()
            raise
    finally:
        session.close()
    shred(share_file)
    return DeployedShare(location, token_label, label, parsed.share.identifier, parsed.share.index + 1)


def export_share(*, module: str, token_label: str, pin: str, location: str) -> str:
    """The mnemonic of the location's share, unwrapped in memory (for the recovery ceremony)."""
    session = open_session(module, token_label, pin)
    try:
        stored = _find_share(session, share_label(location))
        if stored is None:
            raise CustodyError(f"token {token_label!r} holds no share for location {location!r}")
        mnemonic = _export(session, stored).rstrip(b" ").decode("ascii")
    finally:
        session.close()
    parse_mnemonic(mnemonic, source=f"token {token_label!r}")
    return mnemonic


def _verify_stored(session: Any, stored: Any, value: bytes) -> None:
    """The object is sensitive (value unreadable) and its wrapped export equals what we wrote."""
    if stored[Attribute.SENSITIVE] is not True:
        raise CustodyError("the token did not mark the share sensitive")
    try:
        stored[Attribute.VALUE]
    except p11.AttributeSensitive:
        pass
    else:
        raise CustodyError("the token reveals the share value in clear; refusing to use it")
    if _export(session, stored) != value:
        raise CustodyError("the share read back from the token differs from the share file")


def _export(session: Any, stored: Any) -> bytes:
    """Wrap the share under a throw-away session AES key (RFC 3394) and unwrap it here."""
    try:
        kek_object = session.generate_key(
            KeyType.AES,
            256,
            template={
                Attribute.TOKEN: False,
                Attribute.SENSITIVE: False,
                Attribute.EXTRACTABLE: True,
                Attribute.WRAP: True,
            },
        )
    except p11.PKCS11Error as exc:
        raise CustodyError(f"cannot create a wrapping key on the token: {exc!r}") from exc
    try:
        kek = bytes(kek_object[Attribute.VALUE])
        wrapped = kek_object.wrap_key(stored, mechanism=Mechanism.AES_KEY_WRAP)
        length = int(stored[Attribute.VALUE_LEN])
    except p11.PKCS11Error as exc:
        raise CustodyError(f"the token refused to export the share: {exc!r}") from exc
    finally:
        with contextlib.suppress(p11.PKCS11Error):
            kek_object.destroy()
    try:
        return aes_key_unwrap(kek, bytes(wrapped))[:length]
    except InvalidUnwrap as exc:
        raise CustodyError("the wrapped share failed its integrity check") from exc


def _find_share(session: Any, label: str) -> Any | None:
    try:
        return session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
    except p11.NoSuchKey:
        return None
    except p11.MultipleObjectsReturned as exc:
        raise CustodyError(f"several share objects are labelled {label!r}") from exc


def _pad(value: bytes) -> bytes:
    return value + b" " * (-len(value) % _WRAP_BLOCK)
