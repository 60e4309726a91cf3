#!/usr/bin/env bash
# npm run e2e:calls: the call, spanning-room and co-stream tests, then the line that sums them up
# (each test file records its part in the file SHING_E2E_SUMMARY names).
set -uo pipefail
cd "$(dirname "$0")/.."
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
SHING_E2E_SUMMARY=$summary scripts/with-node24 npx vitest run --project integration test/integration/appliance/calls.test.ts test/integration/appliance/costream.test.ts
rc=$?
get() { local value; value=$(grep "^$1=" "$summary" | tail -1 | cut -d= -f2-); echo "${value:-failed}"; }
echo "calls e2e: call=$(get call) span=$(get span) failover=$(get failover) costream=$(get costream)"
exit $rc
