#!/usr/bin/env bash
# The test command (`npm test`): Debian tools the tests drive, then lint, type-check and the suite.
# As root it installs what is missing; otherwise it stops and names the packages. It never skips.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A NEEDS=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager
  [tinyproxy]=tinyproxy
  [nginx]=nginx
  [apache2]=apache2
  [chromium]=chromium
  [systemd-analyze]=systemd
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${NEEDS[$cmd]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages the tests need: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Debian starts a package's daemon on install (nginx on :80, Prometheus on :9090...). The
    # tests start their own instances on free ports with their own config and data directories,
    # so the newly installed ones are not started (policy-rc.d, Debian's switch for this), and
    # nothing that already runs on this host is stopped, restarted or reconfigured.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
      trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$(trap -p EXIT)" ]; then rm -f "$policy"; trap - EXIT; fi
  else
    echo "the tests need these Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# Always rebuild: the CLI tests run the compiled launcher, and a stale dist would test old code.
npm run build
npm run lint
npm run typecheck
npm run audit  # no high or critical advisory in the production dependencies (needs the registry's audit API)
npx vitest run
