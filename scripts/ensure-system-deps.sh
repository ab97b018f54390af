#!/usr/bin/env bash
# Installs what the tests need from the system when it is missing: redis-server (the e2e tests start
# their own) and Chromium (the browser test). Uses apt-get on Debian-like machines when run as root;
# otherwise says what to install. Runs before `npm test`.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || [ -n "${REDIS_URL:-}" ] || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "Installing ${missing[*]} with apt-get (needed by the tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "The tests need: ${missing[*]}. Install them (Debian: apt-get install ${missing[*]}) and run again." >&2
exit 1
