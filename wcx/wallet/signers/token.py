"""Opening PKCS#11 token sessions (python-pkcs11), with device errors mapped onto the signer tree."""

from __future__ import annotations

import pkcs11
from pkcs11 import exceptions as p11

from wcx.wallet.signers.errors import SignerUnavailableError

# Debian's softhsm2 package; production points PKCS11_MODULE at the HSM vendor's library.
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"

# Errors after which a fresh session (and a re-initialised library) may succeed: HSM restart,
# token re-inserted, or another user of the library calling C_Finalize.
RECONNECTABLE: tuple[type[Exception], ...] = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
    p11.UserNotLoggedIn,
)


def open_session(module: str, token_label: str, pin: str, *, rw: bool = False) -> pkcs11.Session:
    """A user session on the token labelled `token_label`; SignerUnavailableError otherwise."""
    try:
        lib = pkcs11.lib(module)
    except (p11.PKCS11Error, OSError) as exc:
        raise SignerUnavailableError(f"cannot load the PKCS#11 module {module}: {exc}") from exc
    try:
        token = lib.get_token(token_label=token_label)
    except p11.NoSuchToken:
        # Tokens created since the library was initialised only show up after C_Initialize again.
        lib.reinitialize()
        try:
            token = lib.get_token(token_label=token_label)
        except p11.NoSuchToken as exc:
            raise SignerUnavailableError(f"no PKCS#11 token labelled {token_label!r}") from exc
    except p11.MultipleTokensReturned as exc:
        raise SignerUnavailableError(f"several PKCS#11 tokens are labelled {token_label!r}") from exc
    try:
        return token.open(rw=rw, user_pin=pin)
    except p11.UserAlreadyLoggedIn:
        # Login is per application and token, so another session of this process already holds it.
        # python-pkcs11 leaves the refused session open (logged in, no handle to close it) until the
        # library is finalised: one handle per overlapping open, which is rare and bounded.
        return token.open(rw=rw)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
        raise SignerUnavailableError(f"the PIN for token {token_label!r} was refused") from exc
    except p11.PinLocked as exc:
        raise SignerUnavailableError(f"the user PIN of token {token_label!r} is locked") from exc
    except p11.PKCS11Error as exc:
        raise SignerUnavailableError(f"cannot open a session on token {token_label!r}: {exc!r}") from exc


def reinitialize(module: str) -> None:
    """Finalize and initialize the library again (forgets every session) after a device error."""
    try:
        pkcs11.lib(module).reinitialize()
    except p11.PKCS11Error as exc:
        raise SignerUnavailableError(f"cannot re-initialise the PKCS#11 module {module}: {exc!r}") from exc
