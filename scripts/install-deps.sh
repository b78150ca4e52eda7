#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks for building and testing Flightlog.
# Idempotent: packages already present are not touched; apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  libssl-dev zlib1g-dev libpq-dev libzstd-dev libsqlite3-dev   # the C libraries the user named (+ SQLite)
  postgresql-15                                                # the real database the test suite runs against
  curl openssl zstd python3-venv                               # clients and baselines used by tests and bench
)
[ "${FLIGHTLOG_BENCH:-0}" = 1 ] && packages+=(hey nginx-light)   # load generator and a fast origin for make bench

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "install-deps: swift is not on PATH (expected /opt/swift/usr/bin)"; exit 1; }
