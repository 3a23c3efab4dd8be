#!/usr/bin/env bash
# Installs the system packages the tests need, only when missing: the PostgreSQL server binaries
# (tests start their own throwaway clusters) and Debian's chromium (headless browser tests).
set -euo pipefail
cd "$(dirname "$0")"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
bash ./install-chromium.sh
