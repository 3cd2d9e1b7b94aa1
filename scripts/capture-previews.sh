#!/usr/bin/env bash
# Captures the preview fixtures of tests/fixtures/previews/ from the real engine and Kubernetes
# provider (scripts/toolchain.sh), with nothing but loopback involved:
#
#  - the fixture program (tests/fixtures/previews/program): the lab's Bookinfo Services, Deployments,
#    DestinationRules and VirtualServices, built by the project's own builders from the same stack
#    config, sent to a provider that renders YAML to a folder (no cluster). It is `up`-ed once with the
#    local stack's traffic (reviews: v1 90%, v2 10%); each scenario then changes config and saves
#    `pulumi preview --json` (weight flip, no-op, fault/timeout/retries/header route, a namespace
#    change that replaces, a service dropped that deletes);
#  - the project itself (index.ts) on a copy of the local stack whose kubeconfig points at
#    https://127.0.0.1:1 (nothing answers; the program warns and previews against empty state): a
#    create preview, and a production-policy preview with violations (event stream, the only JSON
#    shape that carries policy events).
#
# What is changed in the output: the machine's temp folders and $HOME become <tmp> and <home>, and the
# event streams lose their debug-level diagnostics. Nothing else. The script fails if a fixture holds
# anything that looks like a credential. Never uses --show-secrets.
#
# Usage: scripts/capture-previews.sh          (about two minutes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/tests/fixtures/previews
PROGRAM=$OUT/program
LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
export PATH="$LAB_CACHE/bin:$PATH"
command -v pulumi >/dev/null || {
  echo "pulumi not found in $LAB_CACHE/bin: run scripts/toolchain.sh first" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/capture-previews.XXXXXX")
PROJECT_STACK=capture
FIXTURE_STACK=fixtures
cleanup() {
  rm -f "$ROOT/Pulumi.$PROJECT_STACK.yaml" "$PROGRAM/Pulumi.$FIXTURE_STACK.yaml"
  rm -rf "$WORK"
}
trap cleanup EXIT

export PULUMI_BACKEND_URL="file://$WORK/state"
export PULUMI_CONFIG_PASSPHRASE=capture-previews-only
export PULUMI_HOME=$WORK/home
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export SUMMARY_FIXTURES_RENDER_DIR=$WORK/rendered
# The Kubernetes provider leaves a copy of the kubeconfig in $TMPDIR on every run: keep it in WORK.
export TMPDIR=$WORK/tmp
mkdir -p "$WORK/state" "$WORK/home" "$TMPDIR"

step() { printf '[capture] %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# sanitize FILE doc|stream: machine paths out; in event streams, debug diagnostics out.
sanitize() {
  node - "$1" "$2" "$WORK" "$HOME" <<'EOF'
const fs = require("fs");
const [file, mode, work, home] = process.argv.slice(2);
let text = fs.readFileSync(file, "utf8");
if (mode === "stream") {
  const kept = text.split("\n").filter((l) => l.trim() !== "" && !(JSON.parse(l).diagnosticEvent?.severity === "debug"));
  text = kept.join("\n") + "\n";
}
text = text.split(work).join("<tmp>").split(home).join("<home>");
fs.writeFileSync(file, text);
EOF
}

# preview NAME [stream] -- ARGS...: saves the preview output as NAME.json or NAME.events.jsonl.
preview() {
  local name=$1 mode=$2
  shift 2
  local file=$OUT/$name.json
  local env=()
  if [[ $mode == stream ]]; then
    file=$OUT/$name.events.jsonl
    env=(PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true)
  fi
  local status=0
  env "${env[@]}" pulumi preview --json --non-interactive "$@" >"$file" 2>"$WORK/$name.err" || status=$?
  sanitize "$file" "$mode"
  step "$name: exit $status, $(wc -c <"$file") bytes -> ${file#"$ROOT"/}"
}

# ---------------------------------------------------------------------------------------------
# The fixture program.
cd "$PROGRAM"
pulumi stack init "$FIXTURE_STACK" --non-interactive >/dev/null
cfg() { pulumi config set --stack "$FIXTURE_STACK" --path "$@" >/dev/null; }
cfg kubeadm-istio-lab:bookinfo.namespace bookinfo
cfg kubeadm-istio-lab:traffic.reviews.canary v2
cfg kubeadm-istio-lab:traffic.reviews.weight 10
step "fixture program: up with reviews v1 90% / v2 10%"
pulumi up --stack "$FIXTURE_STACK" --yes --non-interactive --skip-preview >"$WORK/up.log" 2>&1 || {
  cat "$WORK/up.log" >&2
  exit 1
}
BASE=$WORK/base.yaml
cp "Pulumi.$FIXTURE_STACK.yaml" "$BASE"
reset() { cp "$BASE" "Pulumi.$FIXTURE_STACK.yaml"; }

preview noop doc --stack "$FIXTURE_STACK"

cfg kubeadm-istio-lab:traffic.reviews.weight 50
preview weight-flip doc --stack "$FIXTURE_STACK"
preview weight-flip stream --stack "$FIXTURE_STACK"
reset

# Blue-green: all of reviews to v2 (the canary pair becomes one destination).
pulumi config rm --stack "$FIXTURE_STACK" --path kubeadm-istio-lab:traffic.reviews.canary >/dev/null
pulumi config rm --stack "$FIXTURE_STACK" --path kubeadm-istio-lab:traffic.reviews.weight >/dev/null
cfg kubeadm-istio-lab:traffic.reviews.active v2
preview blue-green doc --stack "$FIXTURE_STACK"
reset

cfg kubeadm-istio-lab:traffic.ratings.fault.delay.fixedDelay 2s
cfg kubeadm-istio-lab:traffic.ratings.fault.abort.httpStatus 503
cfg kubeadm-istio-lab:traffic.ratings.fault.abort.percent 10
cfg kubeadm-istio-lab:traffic.reviews.timeout 0.5s
cfg kubeadm-istio-lab:traffic.reviews.retries.attempts 2
cfg kubeadm-istio-lab:traffic.reviews.retries.perTryTimeout 0.2s
cfg kubeadm-istio-lab:traffic.reviews.headerRoutes[0].header user-agent
cfg kubeadm-istio-lab:traffic.reviews.headerRoutes[0].regex '.*iPhone.*'
cfg kubeadm-istio-lab:traffic.reviews.headerRoutes[0].version v3
preview fault-timeout-header doc --stack "$FIXTURE_STACK"
reset

# Moving Bookinfo to another namespace: every namespaced object is replaced.
cfg kubeadm-istio-lab:bookinfo.namespace bookinfo-next
preview replace doc --stack "$FIXTURE_STACK"
reset

# details dropped from the stack: its Service, Deployment, DestinationRule and VirtualService go.
pulumi config set --stack "$FIXTURE_STACK" summary-fixtures:services '["productpage","ratings","reviews"]' >/dev/null
preview delete doc --stack "$FIXTURE_STACK"
reset

step "fixture program: destroy"
pulumi destroy --stack "$FIXTURE_STACK" --yes --non-interactive --skip-preview >"$WORK/destroy.log" 2>&1
pulumi stack rm "$FIXTURE_STACK" --yes --force --non-interactive >/dev/null

# ---------------------------------------------------------------------------------------------
# The project, against an API server that does not answer.
cd "$ROOT"
cat >"$WORK/kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
clusters:
  - name: nowhere
    cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true }
users:
  - name: nobody
    user: {}
contexts:
  - name: nowhere
    context: { cluster: nowhere, user: nobody }
current-context: nowhere
EOF
# With the Istio "already installed" (as the fixtures were captured): the local stack's real Istio needs
# its chart repository and istiod (scripts/cluster.sh --istio), which nothing runs here.
sed -e "s#kubeconfigPath: .*#kubeconfigPath: $WORK/kubeconfig#" -e '/^encryptionsalt:/d' \
  -e 's/^    install: true$/    install: false/' -e '/^    version: /d' -e '/^    chartRepository: /d' \
  -e '/^    externalIstiod:/,/^      webhookUrl:/d' Pulumi.local.yaml >"Pulumi.$PROJECT_STACK.yaml"
pulumi stack init "$PROJECT_STACK" --non-interactive >/dev/null
preview create doc --stack "$PROJECT_STACK"
pulumi config set --stack "$PROJECT_STACK" --path kubeadm-istio-lab:traffic.ratings.fault.delay.fixedDelay 2s >/dev/null
preview policy-violations stream --stack "$PROJECT_STACK" \
  --policy-pack policies/run-pack --policy-pack-config policies/config/production.json
pulumi stack rm "$PROJECT_STACK" --yes --force --non-interactive >/dev/null

# ---------------------------------------------------------------------------------------------
if grep -l -i -E 'client-key|client-certificate-data|"token"|BEGIN [A-Z ]*PRIVATE KEY|passphrase' "$OUT"/*.json "$OUT"/*.jsonl; then
  echo "[capture] a fixture above holds something that looks like a credential: not keeping it" >&2
  exit 1
fi
step "done: $(find "$OUT" -maxdepth 1 \( -name '*.json' -o -name '*.jsonl' \) | wc -l) fixtures in ${OUT#"$ROOT"/}"
