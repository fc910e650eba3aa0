#!/usr/bin/env bash
# Installs what charts/rlhf needs on a cluster (kubectl's current context):
#   required: the Kubeflow training operator (PyTorchJob CRD and controller)
#   optional: --gpu-operator   NVIDIA GPU Operator (device plugin, drivers) for GPU nodes
#             --prometheus     kube-prometheus-stack (Prometheus operator, ServiceMonitor CRD, Grafana
#                              with the dashboard sidecar watching every namespace)
#             --kserve         KServe in Standard (formerly RawDeployment) mode, with cert-manager:
#                              for reward.kserve.enabled (k8s/values-reward-kserve.yaml)
# Usage: k8s/install-prerequisites.sh [--gpu-operator] [--prometheus] [--kserve]
# Idempotent: re-running upgrades in place. Versions are pinned below.
set -euo pipefail

TRAINING_OPERATOR_VERSION=v1.9.2     # kubeflow/trainer (formerly training-operator), PyTorchJob v1
KUBE_PROMETHEUS_STACK_VERSION=""     # "" = the chart repository's latest
GPU_OPERATOR_VERSION=""              # "" = the chart repository's latest
CERT_MANAGER_VERSION=v1.16.2
KSERVE_VERSION=v0.21.0            # matches the kserve SDK pinned in constraints.txt

want_gpu=0 want_prometheus=0 want_kserve=0
for arg in "$@"; do
  case "$arg" in
    --gpu-operator) want_gpu=1 ;;
    --prometheus) want_prometheus=1 ;;
    --kserve) want_kserve=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

version_flag() { [ -n "$1" ] && echo "--version $1" || true; }

echo "== Kubeflow training operator ${TRAINING_OPERATOR_VERSION} (namespace kubeflow)"
kubectl apply --server-side --force-conflicts \
  -k "github.com/kubeflow/trainer.git/manifests/overlays/standalone?ref=${TRAINING_OPERATOR_VERSION}"
kubectl -n kubeflow rollout status deployment/training-operator --timeout=300s
kubectl get crd pytorchjobs.kubeflow.org >/dev/null

if [ "$want_gpu" = 1 ]; then
  echo "== NVIDIA GPU Operator (namespace gpu-operator)"
  helm repo add nvidia https://helm.ngc.nvidia.com/nvidia >/dev/null
  helm repo update nvidia >/dev/null
  # shellcheck disable=SC2046
  helm upgrade --install gpu-operator nvidia/gpu-operator -n gpu-operator --create-namespace --wait \
    $(version_flag "$GPU_OPERATOR_VERSION")
fi

if [ "$want_prometheus" = 1 ]; then
  echo "== kube-prometheus-stack (namespace monitoring)"
  helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
  helm repo update prometheus-community >/dev/null
  # The rlhf chart's ServiceMonitor carries `release: kube-prometheus-stack` (values
  # metrics.serviceMonitor.labels) and its dashboard ConfigMap `grafana_dashboard: "1"`.
  # shellcheck disable=SC2046
  helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
    -n monitoring --create-namespace --wait $(version_flag "$KUBE_PROMETHEUS_STACK_VERSION") \
    --set grafana.sidecar.dashboards.enabled=true \
    --set grafana.sidecar.dashboards.searchNamespace=ALL
fi

if [ "$want_kserve" = 1 ]; then
  echo "== cert-manager ${CERT_MANAGER_VERSION} and KServe ${KSERVE_VERSION} (RawDeployment)"
  kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
  kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout=300s
  helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd --version "${KSERVE_VERSION}" \
    -n kserve --create-namespace --wait
  helm upgrade --install kserve oci://ghcr.io/kserve/charts/kserve --version "${KSERVE_VERSION}" \
    -n kserve --wait --set kserve.controller.deploymentMode=RawDeployment
fi

echo "== prerequisites ready"
