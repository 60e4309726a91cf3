#!/usr/bin/env bash
# npm run e2e:<name>: runs test files, then prints the line that sums them up. Each test file
# records its part as key=value lines in the file SHING_E2E_SUMMARY names (test/harness/summary.ts).
#   scripts/e2e-summary.sh <name> "<key> <key>…" <vitest project> <test file>…
set -uo pipefail
cd "$(dirname "$0")/.."
name=$1 keys=$2 project=$3
shift 3
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
SHING_E2E_SUMMARY=$summary scripts/with-node24 npx vitest run --project "$project" "$@"
rc=$?
line="$name e2e:"
for key in $keys; do
  value=$(grep "^$key=" "$summary" | tail -1 | cut -d= -f2-)
  line="$line $key=${value:-failed}"
done
echo "$line"
exit $rc
