#!/usr/bin/env bash
# Builds the envtest control plane (etcd, kube-apiserver) and kubectl from the Go module
# proxy into $BIN (default: <repo>/bin). setup-envtest cannot download prebuilt binaries
# here, so we compile them from the wrapper modules next to this script. Each binary is
# built only when missing (or when its version stamp changed), so re-runs cost nothing.
#
# First run on 2 cores: etcd ~1.5 min, kube-apiserver ~6-11 min idle (48 min measured under a load
# average of 15-19), kubectl ~1-3 min (it reuses most of kube-apiserver's packages).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BIN="${BIN:-$ROOT/bin}"
ETCD_VERSION=v3.7.3
KUBE_VERSION=v1.37.2
mkdir -p "$BIN"

# Every core by default: on a fresh machine this build is the long pole of `make test` (-p=1
# serialised the compile of ~1500 packages). On a busy shared workstation, ENVTEST_GOFLAGS="-mod=mod -p=1".
# -trimpath and -s -w (below) skip path rewriting and DWARF: smaller, faster links, same binaries.
export GOWORK=off CGO_ENABLED=0 GOFLAGS="${ENVTEST_GOFLAGS:--mod=mod -buildvcs=false}"

build() { # name wrapper-dir package version ldflags
  local name=$1 dir=$2 pkg=$3 ver=$4 ldflags=$5
  local stamp="$BIN/.$name.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$ver" ]]; then
    return 0
  fi
  echo ">> building $name $ver (cached in $BIN afterwards)" >&2
  local start=$SECONDS
  (cd "$HERE/$dir" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg")
  mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$ver" > "$stamp"
  echo ">> built $name in $((SECONDS - start))s" >&2
}

kube_minor="${KUBE_VERSION#v1.}"; kube_minor="${kube_minor%%.*}"
kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$kube_minor \
 -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$kube_minor"

want="${*:-etcd kube-apiserver kubectl}"
for t in $want; do
  case $t in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "-s -w" ;;
    kube-apiserver) build kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$KUBE_VERSION" "$kube_ldflags" ;;
    kubectl) build kubectl kubectl k8s.io/kubernetes/cmd/kubectl "$KUBE_VERSION" "$kube_ldflags" ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
done
