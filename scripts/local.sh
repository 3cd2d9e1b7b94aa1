#!/usr/bin/env bash
# The program on this machine, end to end: npm packages, the toolchain (built from Go modules, cached),
# a local Kubernetes API server with kwok nodes, and `pulumi up` on the `local` stack.
#
#   scripts/local.sh up            set everything up and run `pulumi up` (npm run local)
#   scripts/local.sh down          destroy the stack's resources and stop the cluster (npm run local:down)
#   scripts/local.sh pulumi ARGS   run pulumi on the local stack, e.g. config set --path ... (npm run pulumi --)
#   scripts/local.sh recover       after a killed `up`: remove the stale lock, settle interrupted operations (npm run local:recover)
#   scripts/local.sh env           print the environment lines to use pulumi/kubectl by hand
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
CLUSTER_DIR=$LAB_CACHE/local-cluster
STACK=local
# The chart repository and istiod's webhooks, at the addresses Pulumi.local.yaml names.
export LAB_ISTIO_CHARTS_PORT=18750 LAB_ISTIOD_WEBHOOK_PORT=15017
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$LAB_CACHE/state}
# The local stack's secrets (its kubeconfig) are encrypted with this passphrase; set your own to change it.
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-local-lab}
export PULUMI_SKIP_UPDATE_CHECK=true
# The plugins come from scripts/toolchain.sh; a missing one must fail at once, not try to download.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The Kubernetes provider leaves a kubeconfig (with the admin client key) in its temp folder after each
# run: give the engine a private one inside the project's cache, removed when this script exits. A run
# that was killed leaves its folder there (never in /tmp); the next run removes it.
PRIVATE_TMP=$LAB_CACHE/tmp
mkdir -p "$PRIVATE_TMP"
chmod 700 "$PRIVATE_TMP"
for old in "$PRIVATE_TMP"/run-*; do
  [ -d "$old" ] || continue
  pid=${old##*/run-}
  pid=${pid%%-*}
  [ -d "/proc/$pid" ] || rm -rf "$old"
done
LAB_TMP=$(mktemp -d "$PRIVATE_TMP/run-$$-XXXXXX")
trap 'rm -rf "$LAB_TMP"' EXIT
export TMPDIR=$LAB_TMP

start=$(date +%s)
step() { printf '\n[local] %s (+%ss) %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - start))" "$*"; }

toolchain_path() {
  PATH="$(bash scripts/toolchain.sh --print-path):$PATH"
  export PATH
}

# Running, and with real Istio (a cluster started before the local stack installed Istio has none).
cluster_running() {
  [ -f "$CLUSTER_DIR/env" ] && grep -q '^LAB_ISTIOD_WEBHOOK_URL=' "$CLUSTER_DIR/env" &&
    bash scripts/cluster.sh status --dir "$CLUSTER_DIR" >/dev/null 2>&1
}

select_stack() {
  mkdir -p "${PULUMI_BACKEND_URL#file://}"
  pulumi stack select --create "$STACK" --non-interactive >/dev/null
}

cmd_up() {
  if [ ! -d node_modules ]; then
    step "npm ci --ignore-scripts (the Pulumi packages' install scripts would try to download plugins)"
    npm ci --ignore-scripts --no-audit --no-fund
  fi
  step "toolchain: pulumi, language host, kubernetes provider, etcd, kube-apiserver, kwok, istioctl, pilot-discovery, Istio's charts (cold: about 50 min on 2 cores; cached: seconds)"
  bash scripts/toolchain.sh
  toolchain_path
  if cluster_running; then
    step "local cluster already running ($CLUSTER_DIR)"
  else
    if [ -d "$CLUSTER_DIR" ]; then bash scripts/cluster.sh stop --dir "$CLUSTER_DIR" >/dev/null 2>&1 || true; fi
    step "starting the local cluster: etcd, kube-apiserver, controller-manager, scheduler, kwok nodes nieve/sansa/arya, Istio's chart repository, istiod"
    bash scripts/cluster.sh start --dir "$CLUSTER_DIR" --istio
  fi
  select_stack
  step "pulumi up --stack $STACK (--refresh: a restarted cluster starts empty)"
  pulumi up --stack "$STACK" --yes --refresh --skip-preview --non-interactive
  step "istiod: $(grep -m1 -o 'injector ConfigMap found.*' "$CLUSTER_DIR/logs/istiod.log" || echo 'not started (see logs/istiod.log)')"
  step "stack outputs"
  pulumi stack output --stack "$STACK"
  cat <<HINTS

[local] done in $(($(date +%s) - start))s. Look at the cluster:
  kubectl --kubeconfig $CLUSTER_DIR/kubeconfig get virtualservices,destinationrules -A
  kubectl --kubeconfig $CLUSTER_DIR/kubeconfig get virtualservice reviews -n bookinfo -o yaml
  kubectl --kubeconfig $CLUSTER_DIR/kubeconfig get pods -n bookinfo -o jsonpath='{range .items[*]}{.metadata.name}: {.spec.initContainers[*].name} {.spec.containers[*].name}{"\n"}{end}'
What istiod sends a reviews sidecar (its xDS on $(sed -n 's/^LAB_ISTIOD_XDS_ADDRESS=//p' "$CLUSTER_DIR/env")), beside what the config says:
  npm run routes -- --stack local --from reviews --istiod $(sed -n 's/^LAB_ISTIOD_XDS_ADDRESS=//p' "$CLUSTER_DIR/env")
  npm run routes -- --stack local --from reviews
Flip the routing and preview it:
  npm run pulumi -- config set --path traffic.reviews.weight 50
  npm run pulumi -- preview --diff
  npm run pulumi -- up --yes
Tear it down:
  npm run local:down
HINTS
}

cmd_down() {
  toolchain_path
  if cluster_running; then
    select_stack
    step "pulumi destroy --stack $STACK"
    pulumi destroy --stack "$STACK" --yes --non-interactive
  else
    step "no local cluster running: nothing to destroy"
  fi
  step "stopping the local cluster"
  bash scripts/cluster.sh stop --dir "$CLUSTER_DIR"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  pulumi)
    shift
    toolchain_path
    select_stack
    pulumi --stack "$STACK" "$@"
    ;;
  recover)
    toolchain_path
    select_stack
    node_modules/.bin/ts-node --transpile-only tools/recover.ts --stack "$STACK"
    ;;
  env)
    toolchain_path
    # By hand, the provider's kubeconfig copies go to a folder of the cache that stays (empty it at will).
    mkdir -p "$PRIVATE_TMP/shell"
    printf 'export %s\n' "PATH=$PATH" "PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL" \
      "PULUMI_CONFIG_PASSPHRASE=$PULUMI_CONFIG_PASSPHRASE" "PULUMI_SKIP_UPDATE_CHECK=true" \
      "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true" "KUBECONFIG=$CLUSTER_DIR/kubeconfig" \
      "TMPDIR=$PRIVATE_TMP/shell"
    ;;
  *)
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
