"""The cold-storage ceremony: key generation into SLIP-39 share files, and recovery from them.

The master secret only ever exists in this process's memory: keygen writes shares and a public
record (fingerprint and watch-only keys); recovery recombines shares, proves the result is the
recorded wallet, and hands the seed to a signing step without writing it anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from wcx.custody.errors import CustodyError, FingerprintMismatchError, ShareError
from wcx.custody.keys import ColdWalletKeys, Network, derive_keys
from wcx.custody.shares import (
    SHARE_SUFFIX,
    ShareFile,
    check_location,
    combine,
    new_master_secret,
    parse_mnemonic,
    read_share_file,
    split,
    write_share_file,
)

RECORD_NAME = "cold-wallet.json"
RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class ColdWalletRecord:
    """The public record of a cold wallet: keys, share policy, share set and locations (no secret)."""

    keys: ColdWalletKeys
    threshold: int
    total_shares: int
    share_set: int
    locations: tuple[str, ...]
    passphrase_protected: bool
    created_at: str

    def to_json(self) -> dict[str, Any]:
        """The JSON document written next to the shares and into the server configuration."""
        return {
            "version": RECORD_VERSION,
            "created_at": self.created_at,
            **self.keys.to_json(),
            "shares": {
                "scheme": "SLIP-39",
                "threshold": self.threshold,
                "total": self.total_shares,
                "share_set": self.share_set,
                "locations": list(self.locations),
                "passphrase_protected": self.passphrase_protected,
            },
        }

    @classmethod
    def load(cls, path: Path) -> ColdWalletRecord:
        """Read a record file; CustodyError if it is not one."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            shares = data["shares"]
            return cls(
                keys=ColdWalletKeys.from_json(data),
                threshold=int(shares["threshold"]),
                total_shares=int(shares["total"]),
                share_set=int(shares["share_set"]),
                locations=tuple(shares["locations"]),
                passphrase_protected=bool(shares["passphrase_protected"]),
                created_at=str(data["created_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CustodyError(f"{path}: not a cold-wallet record: {exc!r}") from exc


@dataclass(frozen=True, slots=True)
class KeygenResult:
    """What keygen produced: the public record, its path and the share files."""

    record: ColdWalletRecord
    record_path: Path
    share_files: list[Path]


def keygen(
    *,
    threshold: int,
    total_shares: int,
    output_dir: Path,
    passphrase: bytes,
    network: Network,
    now: datetime,
    locations: list[str] | None = None,
) -> KeygenResult:
    """Generate a master secret, split it, self-check the split, write share files and the record."""
    locations = locations or [f"location-{i}" for i in range(1, total_shares + 1)]
    if len(locations) != total_shares or len(set(locations)) != total_shares:
        raise CustodyError(f"give {total_shares} distinct locations, one per share")
    for location in locations:
        check_location(location)
    output_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    clashing = [p.name for p in output_dir.iterdir() if p.suffix == SHARE_SUFFIX or p.name == RECORD_NAME]
    if clashing:
        raise CustodyError(f"{output_dir} already holds ceremony files ({', '.join(sorted(clashing))})")

    secret = new_master_secret()
    mnemonics = split(secret, threshold, total_shares, passphrase)
    keys = derive_keys(secret, network)
    # Prove the split before anyone walks away with a share: the first and the last `threshold`
    # shares must both rebuild the same wallet.
    for subset in (mnemonics[:threshold], mnemonics[-threshold:]):
        if derive_keys(combine(subset, passphrase), network) != keys:
            raise CustodyError("self-check failed: the shares do not rebuild the generated wallet")
    share_set = int(parse_mnemonic(mnemonics[0], source="generated share").identifier)
    del secret  # nothing below needs it; the shares and the record are all that leave this function

    paths = [
        write_share_file(output_dir, location, mnemonic, fingerprint=keys.fingerprint, total=total_shares)
        for location, mnemonic in zip(locations, mnemonics, strict=True)
    ]
    record = ColdWalletRecord(
        keys=keys,
        threshold=threshold,
        total_shares=total_shares,
        share_set=share_set,
        locations=tuple(locations),
        passphrase_protected=bool(passphrase),
        created_at=now.isoformat(),
    )
    record_path = output_dir / RECORD_NAME
    write_new_file(record_path, json.dumps(record.to_json(), indent=2) + "\n", mode=0o644)
    return KeygenResult(record=record, record_path=record_path, share_files=paths)


@dataclass(slots=True)
class Recovery:
    """A recombined cold wallet held in memory: its seed, derived keys and the shares used."""

    seed: bytes = field(repr=False)
    keys: ColdWalletKeys
    used: list[ShareFile]
    rejected: list[str]


def recover(
    *,
    shares_dir: Path,
    threshold: int,
    passphrase: bytes,
    expected_fingerprint: str,
    network: Network,
    expected_keys: ColdWalletKeys | None = None,
) -> Recovery:
    """Recombine the shares in `shares_dir` and prove they rebuild the recorded wallet; else CustodyError."""
    paths = sorted(p for p in shares_dir.iterdir() if p.is_file() and p.suffix == SHARE_SUFFIX)
    usable: list[ShareFile] = []
    rejected: list[str] = []
    for path in paths:
        try:
            usable.append(read_share_file(path))
        except ShareError as exc:
            rejected.append(str(exc))
    if usable:
        declared = {s.share.member_threshold for s in usable}
        if declared != {threshold}:
            raise ShareError(
                f"--threshold {threshold} does not match the shares' threshold {sorted(declared)}"
            )
        sets = {s.share.identifier for s in usable}
        if len(sets) > 1:
            raise ShareError(f"shares from different ceremonies were mixed (share sets {sorted(sets)})")
    distinct = {s.share.index: s for s in usable}
    if len(distinct) < threshold:
        detail = f"; rejected: {'; '.join(rejected)}" if rejected else ""
        raise ShareError(
            f"{len(distinct)} valid distinct share(s) in {shares_dir}, {threshold} needed{detail}"
        )
    chosen = [distinct[index] for index in sorted(distinct)][:threshold]
    seed = combine([s.mnemonic for s in chosen], passphrase)
    keys = derive_keys(seed, network)
    if keys.fingerprint != expected_fingerprint.lower():
        raise FingerprintMismatchError(
            f"recombined wallet fingerprint {keys.fingerprint} is not the recorded {expected_fingerprint} "
            "(wrong passphrase, or shares of another wallet)"
        )
    if expected_keys is not None and keys != expected_keys:
        raise FingerprintMismatchError("the recombined wallet's watch-only keys differ from the record")
    return Recovery(seed=seed, keys=keys, used=chosen, rejected=rejected)


def write_new_file(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Create `path` exclusively with `mode` and fsync it (never overwrites)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # the umask may have narrowed it; a public record is meant to be shared
