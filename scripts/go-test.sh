#!/usr/bin/env bash
# The project's Go tests: the Envoy route tests (envoy/): Istio's own control-plane code, on the
# pinned pseudo-version in envoy/go.mod, fed with the objects the program renders; and the tests of
# the command and random provider stand-ins (tests/standins/), against an SSH server on 127.0.0.1; and
# the chart packager and istiod launcher of the local cluster's real Istio (tests/istio/).
# Steps:
#   1. tools/routes.ts writes envoy/testdata/*.yaml from the program's builders (one file per scenario
#      and per stack), so a change to config or builders reaches the tests;
#   2. `go test -json` in envoy/, tests/standins/ and tests/istio/ (first run: modules from the Go module proxy and
#      a ~5 min compile, kept in the default Go caches, outside the repo);
#   3. prints failures, then as its LAST line `go: N passed, N failed` (subtests count), and exits
#      non-zero on any failure or build error.
# Extra arguments go to `go test` (e.g. -run Canary).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:--mod=readonly}"
# Built as scripts/toolchain.sh builds istioctl (no cgo, -trimpath below): the Istio and Kubernetes
# packages istioctl compiled come from the build cache instead of a second cold compile.
export CGO_ENABLED=0

summary() { echo "go: $1 passed, $2 failed"; }

if ! command -v go >/dev/null; then
  echo "go-test: no go on PATH (Go >= the version in envoy/go.mod is needed)" >&2
  summary 0 1
  exit 1
fi

if ! npx --no-install ts-node --transpile-only tools/routes.ts --write-scenarios envoy/testdata; then
  echo "go-test: generating envoy/testdata with tools/routes.ts failed" >&2
  summary 0 1
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
rc=0
for module in envoy tests/standins tests/istio; do
  (cd "$module" && go test -trimpath -json -count=1 "$@" ./...) >>"$tmp/events.json" 2>>"$tmp/stderr" || rc=$?
done
elapsed=$(($(date +%s) - start))

# Tally the events; print each failed test's output, and build errors.
node - "$tmp/events.json" "$tmp/stderr" "$rc" "$elapsed" <<'EOF'
const fs = require("fs");
const [events, stderr, rc, elapsed] = process.argv.slice(2);
const output = new Map(); // "package test" -> its output
const packages = [];
const failedPackages = new Set();
let passed = 0, failed = 0, skipped = 0;
for (const line of fs.readFileSync(events, "utf8").split("\n")) {
  if (!line.trim()) continue;
  let e;
  try { e = JSON.parse(line); } catch { console.log(line); continue; }
  if (e.Action === "build-output") { process.stdout.write(e.Output ?? ""); continue; }
  const key = `${e.Package} ${e.Test ?? ""}`;
  if (e.Action === "output") output.set(key, (output.get(key) ?? "") + (e.Output ?? ""));
  if (!["pass", "fail", "skip"].includes(e.Action)) continue;
  if (e.Test) {
    if (e.Action === "pass") passed++;
    if (e.Action === "skip") skipped++;
    if (e.Action === "fail") { failed++; failedPackages.add(e.Package); process.stdout.write(output.get(key) ?? ""); }
  } else {
    packages.push(`${{ pass: "ok  ", fail: "FAIL", skip: "--  " }[e.Action]} ${e.Package}${e.Elapsed !== undefined ? ` ${e.Elapsed}s` : ""}`);
    // A package failing outside any test (panic, TestMain): show its output, less go's own verdict lines.
    if (e.Action === "fail" && !failedPackages.has(e.Package)) {
      process.stdout.write((output.get(key) ?? "").split("\n").filter((l) => !/^(FAIL|PASS|ok)\b/.test(l)).join("\n"));
    }
  }
}
// stderr: go's module downloads (first run) are counted, anything else is shown.
const errLines = fs.readFileSync(stderr, "utf8").split("\n").filter((l) => l.trim());
const downloads = errLines.filter((l) => l.startsWith("go: downloading ")).length;
for (const l of errLines) if (!l.startsWith("go: downloading ")) console.log(l);
if (downloads) console.log(`(go downloaded ${downloads} modules from the module proxy)`);
for (const p of packages) console.log(p);
if (skipped) console.log(`(${skipped} skipped)`);
console.log(`go test: ${elapsed}s, compile and run`);
// A build error, or a package failing with no failed test, still counts as a failure.
if (Number(rc) !== 0 && failed === 0) failed = 1;
console.log(`go: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
EOF
