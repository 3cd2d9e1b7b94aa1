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
# Go lives in /usr/local/go on these machines; a non-login shell may not have it on PATH.
command -v go >/dev/null 2>&1 || PATH=/usr/local/go/bin:$PATH
# The test hosts' Debian root file system (debootstrap: downloads and dpkg, little CPU) is built beside
# the toolchain's Go builds instead of after them; cached, it takes no time.
bash scripts/toolchain.sh --apt-only
rootfs_log=$(mktemp)
bash scripts/hosts.sh rootfs >"$rootfs_log" 2>&1 &
rootfs_pid=$!
step "toolchain (cached builds are skipped)"
bash scripts/toolchain.sh
if ! wait "$rootfs_pid"; then
  echo "[test] building the test hosts' rootfs failed:" >&2
  cat "$rootfs_log" >&2
fi
step "test hosts' rootfs: $(grep -o "rootfs [a-z]* in [0-9.]*s" "$rootfs_log" | tail -n 1)"
rm -f "$rootfs_log"
PATH="$(bash scripts/toolchain.sh --print-path):$PATH"
export PATH

step "type-check (tsc --noEmit)"
npx tsc --noEmit

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
status=0
step "jest: unit and engine suites"
npx jest --json --outputFile="$results/jest.json" "$@" || status=$?

step "go: Envoy routes computed by Istio's control-plane code (envoy/), provider stand-ins (tests/standins/)"
bash scripts/go-test.sh | tee "$results/go.log" || status=1

# One line for CI, summed over all suites: "N passed, N failed".
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const fs = require("fs");
  const r = fs.existsSync(process.argv[1]) ? require(process.argv[1]) : { numPassedTests: 0, numFailedTests: 1, testResults: [] };
  const failedSuites = r.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
  const go = /go: (\d+) passed, (\d+) failed/.exec(fs.readFileSync(process.argv[2], "utf8")) ?? [0, 0, 1];
  console.log(`${r.numPassedTests + Number(go[1])} passed, ${r.numFailedTests + failedSuites + Number(go[2])} failed`);
' "$results/jest.json" "$results/go.log"
exit "$status"
