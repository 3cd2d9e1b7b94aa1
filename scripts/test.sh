#!/usr/bin/env bash
# The project's test command (`npm test`): type-check, then the unit suite (pure logic, mocks, policy
# rules) and the engine suite (real Pulumi engine against a local API server), then one summary line.
# Builds the toolchain first when it is missing; with a warm cache that step takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '[test] %s %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ ! -d node_modules ]; then
  step "installing npm packages (npm ci --ignore-scripts)"
  npm ci --ignore-scripts --no-audit --no-fund
fi
step "toolchain (cached builds are skipped)"
bash scripts/toolchain.sh
PATH="$(bash scripts/toolchain.sh --print-path):$PATH"
export PATH

step "type-check (tsc --noEmit)"
npx tsc --noEmit

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
step "jest: unit and engine suites"
npx jest --json --outputFile="$results/jest.json" "$@" || status=$?

# One line for CI, summed over all suites: "N passed, N failed".
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const r = require(process.argv[1]);
  const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + failedSuites} failed`);
' "$results/jest.json"
exit "$status"
