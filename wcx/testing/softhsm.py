"""A process-wide SoftHSM2 for tests: a temporary SOFTHSM2_CONF and token directory, tokens on demand.

The PKCS#11 library reads SOFTHSM2_CONF once, at C_Initialize, and python-pkcs11 keeps one loaded
library per process, so every test in a process shares one configuration; tests get fresh tokens
with unique labels instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest

from wcx.testing.services import missing_service

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
USER_PIN = "1234-test"
SO_PIN = "5678-test-so"


class SoftHsmMissingError(RuntimeError):
    """SoftHSM2 is not installed and cannot be installed here."""


@dataclass(frozen=True)
class SoftHsm:
    """One SoftHSM2 configuration: its module path, config file and token directory."""

    module: str
    conf: Path
    tokens: Path

    def init_token(self, label: str | None = None, *, pin: str = USER_PIN, so_pin: str = SO_PIN) -> str:
        """Initialise a fresh token (unique label unless given) and make the loaded library see it."""
        label = label or f"t-{uuid.uuid4().hex[:12]}"
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
        )
        # SoftHSM scans the token directory at C_Initialize only; open sessions are dropped and
        # the signers reconnect by themselves.
        pkcs11.lib(self.module).reinitialize()
        return label

    def env(self) -> dict[str, str]:
        """Environment for a child process (the CLI) that must see the same tokens."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}


_shared: SoftHsm | None = None


def find_module() -> str | None:
    """Path of the installed libsofthsm2.so, or None."""
    return next((path for path in MODULE_CANDIDATES if Path(path).exists()), None)


def ensure_installed() -> str:
    """The SoftHSM2 module path; installs Debian's softhsm2 if missing and root (CI normally did)."""
    module = find_module()
    if module and shutil.which("softhsm2-util"):
        return module
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SoftHsmMissingError("softhsm2 is not installed (apt-get install softhsm2)")
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "softhsm2"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    module = find_module()
    if result.returncode != 0 or module is None:
        raise SoftHsmMissingError(f"installing softhsm2 failed: {result.stderr.strip()[-500:]}")
    return module


def shared_softhsm(root: Path) -> SoftHsm:
    """The process's SoftHSM2 (created under `root` on first use); sets SOFTHSM2_CONF for this process."""
    global _shared  # noqa: PLW0603 - one per process because the PKCS#11 library is one per process
    if _shared is not None:
        return _shared
    module = ensure_installed()
    tokens = root / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    _shared = SoftHsm(module=module, conf=conf, tokens=tokens)
    return _shared


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    """Pytest fixture: the process's SoftHSM2 (installed by .ci/setup.d/softhsm.sh or on first use)."""
    try:
        return shared_softhsm(tmp_path_factory.mktemp("softhsm"))
    except SoftHsmMissingError as exc:
        missing_service(str(exc))
