#!/usr/bin/env bash
# Installs buf into $1 (bin/): the release binary from npm, pinned with its sha512 by
# tools/buf/package-lock.json (seconds), else built from tools/buf/go.mod (~2 min on 2 cores).
# Both name the same version; a mismatch fails, so the two cannot drift apart.
set -euo pipefail
bin=$1
mod=$(cd "$(dirname "$0")" && pwd)/tools/buf
want=$(awk '$1 == "github.com/bufbuild/buf" { sub(/^v/, "", $2); print $2 }' "$mod/go.mod")
pinned=$(sed -n 's/.*"@bufbuild\/buf": "\(.*\)".*/\1/p' "$mod/package.json")
if [ "$want" != "$pinned" ]; then
  echo "buf: hack/tools/buf/go.mod says $want, package.json says $pinned" >&2
  exit 1
fi
if command -v npm >/dev/null 2>&1; then
  dir=$bin/.buf-npm
  rm -rf "$dir" && mkdir -p "$dir" && cp "$mod/package.json" "$mod/package-lock.json" "$dir/"
  # --ignore-scripts: the platform package holds the binary; the wrapper's postinstall is not needed.
  if (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    exe=$(ls "$dir"/node_modules/@bufbuild/buf-*/bin/buf 2>/dev/null | head -n1 || true)
    if [ -n "$exe" ] && [ "$("$exe" --version)" = "$want" ]; then
      cp "$exe" "$bin/buf.tmp" && mv "$bin/buf.tmp" "$bin/buf"
      rm -rf "$dir"
      echo ">> buf $want: the release binary from npm"
      exit 0
    fi
  fi
  rm -rf "$dir"
  echo ">> buf $want: npm did not provide it; building it from the Go module" >&2
fi
cd "$mod" && GOWORK=off go build -trimpath -ldflags '-s -w' -o "$bin/buf" github.com/bufbuild/buf/cmd/buf
