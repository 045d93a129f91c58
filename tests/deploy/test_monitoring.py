"""Prometheus rules, Alertmanager routing, Grafana dashboards, log shipping and trace export configs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from .conftest import DEPLOY, ROOT
from .promql import metric_names

MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "prometheus" / "rules" / "wcx-alerts.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
GUIDE_ALERTS = {
    "TradingEngineHighLatency": (
        "histogram_quantile(0.95, rate(trading_engine_order_processing_duration_seconds_bucket[5m])) > 0.1"
    ),
    # Summed: the labels of the two counters differ (code, command), see the rule's comment.
    "TradingEngineErrorRate": (
        "sum(rate(trading_engine_errors_total[5m])) / sum(rate(trading_engine_requests_total[5m])) > 0.01"
    ),
}


def tool(name: str) -> str:
    """A Debian tool the CI set-up installs (.ci/setup.d/deploy.sh); missing is a failure, not a skip."""
    found = shutil.which(name)
    assert found, f"{name} is not installed: run .ci/setup.d/deploy.sh (Debian package prometheus)"
    return found


def rules() -> list[dict[str, Any]]:
    """Every alerting rule of the rules file."""
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> dict[str, list[str]]:
    """Each dashboard's title → the PromQL of its panels."""
    found = {}
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        found[board["title"]] = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    return found


def used_metric_names() -> set[str]:
    """Every series name the alerts and the dashboards read."""
    exprs = [rule["expr"] for rule in rules()] + [e for es in dashboard_exprs().values() for e in es]
    return {name for expr in exprs for name in metric_names(expr)}


def test_promtool_checks_the_rules() -> None:
    command = [tool("promtool"), "check", "rules", str(RULES)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_the_alerts_fire_on_series_shaped_like_wcx_metrics() -> None:
    """promtool's rule unit tests: firing and quiet cases with wcx's real label sets."""
    tests = MONITORING / "prometheus" / "tests" / "wcx-alerts.test.yml"
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_checks_the_compose_prometheus_config() -> None:
    config = MONITORING / "prometheus" / "prometheus.yml"
    result = subprocess.run(
        [tool("promtool"), "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_guides_alerts_exactly_and_every_rule_has_a_severity_and_runbook() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    for name, expr in GUIDE_ALERTS.items():
        assert by_name[name]["expr"] == expr and by_name[name]["for"] == "5m"
    expected = {
        "JournalFsyncSlow",
        "ProjectorLagging",
        "ApiHigh5xxRate",
        "WithdrawalQueueStale",
        "HotWalletBelowMinimum",
        "DepositWatcherBehind",
        "ChainReorgDetected",
        "AuditChainBroken",
    }
    assert expected <= set(by_name)
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        anchor = rule["annotations"]["runbook_url"].split("#")[0]
        assert (ROOT / anchor).exists(), f"{rule['alert']}: runbook {anchor} missing"


def test_promql_names_extraction() -> None:
    expr = (
        'sum by (le, route) (rate(http_request_duration_seconds_bucket{status=~"5..", route="/x"}[5m])) > 0.5'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket"}
    assert metric_names("time() - max(audit_chain_last_check_timestamp_seconds) > 1800") == {
        "audit_chain_last_check_timestamp_seconds"
    }


def test_alertmanager_pages_pagerduty_by_severity_with_keys_from_files() -> None:
    config_path = MONITORING / "alertmanager" / "alertmanager.yml"
    result = subprocess.run(
        [tool("amtool"), "check-config", str(config_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(config_path.read_text())
    routes = {route["matchers"][0]: route["receiver"] for route in config["route"]["routes"]}
    assert routes == {'severity="critical"': "pagerduty-critical", 'severity="warning"': "pagerduty-warning"}
    for receiver in config["receivers"]:
        for pagerduty in receiver["pagerduty_configs"]:
            assert "routing_key" not in pagerduty and "service_key" not in pagerduty, (
                "keys come from the secret"
            )
            assert pagerduty["routing_key_file"].startswith(
                "/etc/alertmanager/secrets/alertmanager-pagerduty/"
            )


def test_the_six_dashboards_are_provisioned() -> None:
    titles = set(dashboard_exprs())
    assert titles == {
        "Trading Engine Performance",
        "Order Processing Latency",
        "API Response Times",
        "Database Query Performance",
        "System Resource Usage",
        "Security Monitoring",
    }
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == len(uids)
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards/wcx.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for exprs in dashboard_exprs().values():
        assert exprs and all(metric_names(expr) for expr in exprs)


def test_collector_exports_traces_to_jaeger() -> None:
    config = yaml.safe_load((MONITORING / "otel" / "collector.yaml").read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["otlp/jaeger"]
    assert set(pipeline["processors"]) <= set(config["processors"])


def test_fluent_bit_parses_the_json_lines_wcx_writes() -> None:
    """A real log line of wcx: one JSON object whose timestamp matches the parser's Time_Format."""
    program = "from wcx.observability.logging import configure_logging, get_logger; "
    program += "configure_logging('INFO'); get_logger('probe').info('hello', trace_id='ab')"
    output = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    record = json.loads((output.stdout or output.stderr).strip().splitlines()[-1])
    assert record["event"] == "hello" and record["trace_id"] == "ab"
    parsers = (MONITORING / "fluent-bit" / "parsers.conf").read_text()
    assert "Format      json" in parsers and "Time_Key    timestamp" in parsers
    # Fluent Bit's %L is the fraction; strptime's %f reads the same digits.
    assert "Time_Format %Y-%m-%dT%H:%M:%S.%LZ" in parsers
    datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    config = (MONITORING / "fluent-bit" / "fluent-bit.conf").read_text()
    assert "Merge_Parser        wcx_json" in config and "Name                es" in config


def test_the_kubernetes_prometheus_rule_is_the_rules_file(tmp_path: Path) -> None:
    generated = DEPLOY / "k8s" / "base" / "monitoring" / "prometheusrule.yaml"
    resource = yaml.safe_load(generated.read_text())
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == yaml.safe_load(RULES.read_text()), "run scripts/render_prometheus_rule.py"
