#!/usr/bin/env bash
# npm audit of the production dependencies: fails on a high or critical advisory. Some registry
# mirrors do not serve the audit endpoint (405); then there is nothing to judge, and this says so
# loudly instead of failing every build or pretending the audit passed.
set -uo pipefail
out=$(npm audit --omit=dev --audit-level=high 2>&1)
code=$?
printf '%s\n' "$out" | tail -20
if [ "$code" -ne 0 ] && printf '%s' "$out" | grep -q 'audit endpoint returned an error'; then
  echo "WARNING: npm audit could not run: this registry does not serve the audit endpoint. No verdict." >&2
  exit 0
fi
exit "$code"
