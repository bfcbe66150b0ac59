#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, type-checks, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive: Chromium (browser tests), oathtool (independent TOTP),
# zbarimg (QR decoding), PostgreSQL (the second database), nginx (auth_request in front of Tessera for
# forward-auth). Installed only when missing.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v oathtool >/dev/null || missing+=(oathtool)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Node packages, including the pinned Node.js 24 runtime itself.
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version)"

npx tsc --noEmit -p .
exec node scripts/run-tests.ts "$@"
