#!/usr/bin/env bash
# Installs pinned operator/chart tools into $BIN (default <repo>/bin) from the Go module proxy,
# each behind an existence + version check so warm machines skip it.
#   controller-gen  sigs.k8s.io/controller-tools v0.23.0   (~25 s fresh)
#   helm            helm.sh/helm/v3 v3.22.0                 (~1.5-2.5 min fresh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
CONTROLLER_GEN_VERSION=v0.23.0
HELM_VERSION=v3.22.0
mkdir -p "$BIN"
# Tools are not tested here: no -race, no DWARF (-s -w), no path rewriting cost (-trimpath).
export GOWORK=off CGO_ENABLED=0 GOBIN="$BIN" GOFLAGS="${TOOLS_GOFLAGS:--trimpath -buildvcs=false}"

stamped() { [[ -x "$BIN/$1" && -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" ]]; }

install_controller_gen() {
  stamped controller-gen "$CONTROLLER_GEN_VERSION" && return 0
  echo ">> installing controller-gen $CONTROLLER_GEN_VERSION" >&2
  go install -ldflags "-s -w" "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_GEN_VERSION"
  echo "$CONTROLLER_GEN_VERSION" > "$BIN/.controller-gen.version"
}

install_helm() {
  stamped helm "$HELM_VERSION" && return 0
  echo ">> installing helm $HELM_VERSION" >&2
  # A plain go install leaves helm's version variables unset (it would then assume an
  # ancient Kubernetes for .Capabilities); stamp them like helm's own Makefile does.
  go install -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$BIN/.helm.version"
}

for t in ${*:-controller-gen helm}; do
  case $t in
    controller-gen) install_controller_gen ;;
    helm) install_helm ;;
    *) echo "unknown tool $t" >&2; exit 2 ;;
  esac
done
