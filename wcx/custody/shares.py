"""SLIP-39 shares of the cold wallet's master secret (shamir-mnemonic) and their files."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from shamir_mnemonic import MnemonicError, Share, combine_mnemonics, generate_mnemonics

from wcx.custody.errors import ShareError

MASTER_SECRET_BYTES = 32  # 256-bit secret, used directly as the BIP32 seed (as SLIP-39 specifies)
SHARE_SUFFIX = ".slip39"
MAX_SHARES = 16  # SLIP-39 member count limit
_LOCATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class ShareFile:
    """One parsed share file: where it came from, its mnemonic and its decoded parameters."""

    path: Path
    location: str
    mnemonic: str
    share: Share


def new_master_secret() -> bytes:
    """A fresh 256-bit master secret from the OS CSPRNG."""
    return secrets.token_bytes(MASTER_SECRET_BYTES)


def split(master_secret: bytes, threshold: int, total: int, passphrase: bytes) -> list[str]:
    """`total` SLIP-39 mnemonics, any `threshold` of which (with the passphrase) give the secret back."""
    if not 1 <= threshold <= total <= MAX_SHARES:
        raise ShareError(f"need 1 <= threshold <= total-shares <= {MAX_SHARES}, got {threshold} of {total}")
    if threshold == 1 and total > 1:
        raise ShareError("a threshold of 1 would make every share the whole secret; use at least 2")
    check_passphrase(passphrase)
    groups = generate_mnemonics(
        group_threshold=1, groups=[(threshold, total)], master_secret=master_secret, passphrase=passphrase
    )
    return list(groups[0])


def combine(mnemonics: list[str], passphrase: bytes) -> bytes:
    """The master secret from enough shares; a wrong passphrase yields a different secret (by design)."""
    check_passphrase(passphrase)
    try:
        return bytes(combine_mnemonics(mnemonics, passphrase))
    except MnemonicError as exc:
        raise ShareError(str(exc)) from exc


def check_passphrase(passphrase: bytes) -> None:
    """SLIP-39 passphrases are printable ASCII; refuse anything else before it silently changes the seed."""
    if any(not 32 <= byte <= 126 for byte in passphrase):
        raise ShareError("the passphrase must be printable ASCII (SLIP-39)")


def check_location(location: str) -> str:
    """A location name safe for file names and token labels."""
    if not _LOCATION.fullmatch(location):
        raise ShareError(f"location {location!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return location


def write_share_file(directory: Path, location: str, mnemonic: str, *, fingerprint: str, total: int) -> Path:
    """Write one share to `<dir>/share-<location>.slip39`, created 0600 and never overwritten."""
    share = parse_mnemonic(mnemonic, source=location)
    path = directory / f"share-{check_location(location)}{SHARE_SUFFIX}"
    body = (
        "# wcx cold-storage share (SLIP-39). Keep offline; any "
        f"{share.member_threshold} of {total} shares rebuild the key.\n"
        f"# location: {location}\n"
        f"# share set: {share.identifier}  member index: {share.index + 1}"
        f"  threshold: {share.member_threshold}\n"
        f"# cold wallet fingerprint: {fingerprint}\n"
        f"{mnemonic}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def read_share_file(path: Path) -> ShareFile:
    """Parse a share file (comment lines start with '#'); ShareError naming the file if it is bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShareError(f"{path}: cannot read share file: {exc}") from exc
    location = path.stem.removeprefix("share-")
    words: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# location:"):
            location = stripped.removeprefix("# location:").strip() or location
        elif stripped and not stripped.startswith("#"):
            words.extend(stripped.split())
    mnemonic = " ".join(words)
    return ShareFile(
        path=path, location=location, mnemonic=mnemonic, share=parse_mnemonic(mnemonic, source=path)
    )


def parse_mnemonic(mnemonic: str, *, source: object) -> Share:
    """Decode and checksum-verify one SLIP-39 mnemonic (a corrupted word fails the RS1024 checksum)."""
    try:
        return Share.from_mnemonic(mnemonic)
    except MnemonicError as exc:
        raise ShareError(f"{source}: not a valid SLIP-39 share ({exc})") from exc


def shred(path: Path) -> None:
    """Overwrite a plaintext share with zeros, fsync, then unlink (best effort on journaling/SSD media)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
