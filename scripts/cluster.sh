#!/usr/bin/env bash
# A throw-away Kubernetes control plane on loopback for engine tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (fake nodes and pods), with Istio's CRDs and a
# stand-in Istio ingress gateway; or, with --istio, real Istio: a chart repository of Istio's charts
# (istio-charts) and istiod (pilot-discovery) as the cluster's external control plane, for the
# program to install the charts into. Everything listens on 127.0.0.1 only.
#
#   scripts/cluster.sh start  [--dir DIR] [--istio]   start a cluster (DIR: new temp folder by default)
#   scripts/cluster.sh stop   [--dir DIR]   stop it and remove DIR (default: $LAB_CLUSTER_DIR)
#   scripts/cluster.sh status [--dir DIR]   show which processes are alive and whether /readyz answers
#
# The binaries come from scripts/toolchain.sh ($LAB_CACHE/bin), or from PATH.
# start writes DIR/kubeconfig (admin) and DIR/env (KEY=VALUE lines: KUBECONFIG, LAB_CLUSTER_DIR,
# LAB_APISERVER_URL, the ports and the pid of each process; with --istio also LAB_ISTIO_CHARTS_URL,
# LAB_ISTIOD_WEBHOOK_URL, LAB_ISTIOD_DEBUG_URL, LAB_ISTIOD_XDS_ADDRESS, LAB_ISTIOD_MONITORING_URL,
# and DIR/charts, the repository served). With --istio,
# LAB_ISTIO_CHARTS_PORT and LAB_ISTIOD_WEBHOOK_PORT pick those two ports (else free ones).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env disable=SC1091
source "$SCRIPT_DIR/versions.env"

LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
BIN_DIR=$LAB_CACHE/bin
MARKER=.lab-cluster
# Order matters: started in this order, stopped in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok istio-charts istiod)
# Started only with --istio.
ISTIO_COMPONENTS=(istio-charts istiod)
ISTIO=false
SYSTEM_NAMESPACES=(default kube-system kube-public kube-node-lease istio-system)
NODES=(nieve sansa arya)
POD_CIDR=10.0.0.0/16
SERVICE_CIDR=10.96.0.0/16

log() { printf '[cluster] %s\n' "$*"; }
die() {
  printf '[cluster] ERROR: %s\n' "$*" >&2
  exit 1
}
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# Variable name for a component's pid in DIR/env: kube-apiserver -> LAB_KUBE_APISERVER_PID.
pid_var() {
  local n=${1//-/_}
  echo "LAB_${n^^}_PID"
}

find_tool() {
  local name=$1
  if [[ -x $BIN_DIR/$name ]]; then
    echo "$BIN_DIR/$name"
  elif command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
  else
    die "$name not found in $BIN_DIR or on PATH: run scripts/toolchain.sh first"
  fi
}

# kubectl: the toolchain's (same minor as the API server) if built, else the machine's.
KUBECTL=kubectl
[[ -x $BIN_DIR/kubectl ]] && KUBECTL=$BIN_DIR/kubectl

# KEY from DIR/env, or empty.
env_get() {
  local file=$1 key=$2
  [[ -f $file ]] || return 0
  sed -n "s/^$key=//p" "$file" | tail -n 1
}

# True if PID exists and has not exited (a zombie, or a process whose memory is already gone while
# it exits, counts as exited).
pid_running() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  state=${stat##*) }
  state=${state%% *}
  [[ $state != Z && $state != X && $state != x ]]
}

# True if PID is running the binary NAME (guards against a recycled pid before signalling it).
pid_is() {
  local pid=$1 name=$2
  pid_running "$pid" || return 1
  local exe
  exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1) || return 1
  [[ -n $exe && $(basename "$exe") == "$name" ]]
}

# Free TCP ports on 127.0.0.1, chosen by the kernel.
free_ports() {
  local count=$1
  node -e '
    const net = require("net");
    const n = Number(process.argv[1]);
    const servers = [];
    const ports = [];
    const next = () => {
      if (ports.length === n) {
        servers.forEach((s) => s.close());
        console.log(ports.join(" "));
        return;
      }
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => { ports.push(s.address().port); servers.push(s); next(); });
    };
    next();
  ' "$count"
}

# ---------------------------------------------------------------------------------------------
# certificates
# ---------------------------------------------------------------------------------------------
gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign_cert NAME SUBJECT EXTENSIONS: DIR/pki/NAME.{key,crt} signed by the CA.
sign_cert() {
  local pki=$1 name=$2 subject=$3 ext=$4
  gen_key "$pki/$name.key"
  printf '%s\n' "$ext" >"$pki/$name.ext"
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  local pki=$1
  mkdir -p "$pki"
  gen_key "$pki/ca.key"
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=kubeadm-istio-lab-ca" -days 30 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$pki/ca.crt" 2>/dev/null
  sign_cert "$pki" apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
  # istiod's webhooks and secure xDS: the API server calls https://127.0.0.1:PORT/inject and /validate.
  sign_cert "$pki" istiod "/CN=istiod" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:istiod.istio-system.svc"
  sign_cert "$pki" admin "/O=system:masters/CN=lab-admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  gen_key "$pki/sa.key"
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  chmod 600 "$pki"/*.key
}

write_kubeconfig() {
  local file=$1 server=$2 pki=$3
  local ca crt key
  ca=$(base64 -w0 <"$pki/ca.crt")
  crt=$(base64 -w0 <"$pki/admin.crt")
  key=$(base64 -w0 <"$pki/admin.key")
  umask 077
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: lab
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: lab-admin
    user:
      client-certificate-data: $crt
      client-key-data: $key
contexts:
  - name: lab
    context:
      cluster: lab
      user: lab-admin
current-context: lab
EOF
  umask 022
}

# ---------------------------------------------------------------------------------------------
# manifests applied once the API server answers
# ---------------------------------------------------------------------------------------------
node_manifest() {
  local name=$1 role_label=""
  [[ $name == nieve ]] && role_label='    node-role.kubernetes.io/control-plane: ""'
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $name
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
$role_label
spec: {}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110", ephemeral-storage: 50Gi}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110", ephemeral-storage: 50Gi}
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    kubeletVersion: fake
    kubeProxyVersion: fake
EOF
}

# crd_manifest GROUP KIND PLURAL SHORTNAMES(comma separated or empty)
crd_manifest() {
  local group=$1 kind=$2 plural=$3 short=$4
  local singular=${kind,,}
  local shortnames="[]"
  [[ -n $short ]] && shortnames="[${short}]"
  cat <<EOF
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $plural.$group
  labels: {app.kubernetes.io/part-of: kubeadm-istio-lab-test}
spec:
  group: $group
  scope: Namespaced
  names:
    kind: $kind
    listKind: ${kind}List
    plural: $plural
    singular: $singular
    shortNames: $shortnames
    categories: [istio-io, ${group%%.*}-istio-io]
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
            status: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
}

# group kind plural shortnames
ISTIO_CRDS=(
  "networking.istio.io VirtualService virtualservices vs"
  "networking.istio.io DestinationRule destinationrules dr"
  "networking.istio.io Gateway gateways gw"
  "networking.istio.io ServiceEntry serviceentries se"
  "networking.istio.io Sidecar sidecars -"
  "security.istio.io PeerAuthentication peerauthentications pa"
  "security.istio.io AuthorizationPolicy authorizationpolicies ap"
  "security.istio.io RequestAuthentication requestauthentications ra"
)

crds_manifest() {
  local entry group kind plural short
  for entry in "${ISTIO_CRDS[@]}"; do
    read -r group kind plural short <<<"$entry"
    [[ $short == - ]] && short=""
    crd_manifest "$group" "$kind" "$plural" "$short"
  done
}

crd_names() {
  local entry group kind plural short
  for entry in "${ISTIO_CRDS[@]}"; do
    read -r group kind plural short <<<"$entry"
    echo "crd/$plural.$group"
  done
}

ingress_gateway_manifest() {
  cat <<'EOF'
---
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  replicas: 1
  selector:
    matchLabels: {app: istio-ingressgateway, istio: ingressgateway}
  template:
    metadata:
      labels: {app: istio-ingressgateway, istio: ingressgateway}
    spec:
      containers:
        - name: istio-proxy
          # Never pulled: kwok only pretends to run pods.
          image: docker.io/istio/proxyv2:1.28.0
          ports:
            - {containerPort: 8080, name: http2}
            - {containerPort: 8443, name: https}
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-system
  labels: {app: istio-ingressgateway, istio: ingressgateway}
spec:
  type: NodePort
  selector: {app: istio-ingressgateway, istio: ingressgateway}
  ports:
    - {name: http2, port: 80, targetPort: 8080, protocol: TCP}
    - {name: https, port: 443, targetPort: 8443, protocol: TCP}
EOF
}

# kwok's stages, read from the kwok module in the Go module cache.
kwok_stages() {
  local out=$1
  local moddir
  moddir="$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")/sigs.k8s.io/kwok@$KWOK_VERSION"
  if [[ ! -d $moddir/kustomize/stage ]]; then
    moddir=$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" 2>/dev/null |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1) || true
  fi
  [[ -d $moddir/kustomize/stage ]] ||
    die "kwok $KWOK_VERSION stages not found in the Go module cache: run scripts/toolchain.sh first"
  local files=("$moddir/kustomize/stage/node/fast/node-initialize.yaml")
  local f
  for f in "$moddir"/kustomize/stage/node/heartbeat-with-lease/*.yaml "$moddir"/kustomize/stage/pod/fast/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] && continue
    files+=("$f")
  done
  : >"$out"
  for f in "${files[@]}"; do
    [[ -f $f ]] || die "kwok stage file missing: $f"
    { echo "---"; cat "$f"; echo; } >>"$out"
  done
}

# ---------------------------------------------------------------------------------------------
# start
# ---------------------------------------------------------------------------------------------
STATE_DIR=""
START_FAILED_CLEANUP=false

# spawn NAME BIN ARGS...: starts a component in its own session, logs to DIR/logs/NAME.log.
spawn() {
  local name=$1
  shift
  setsid "$@" >"$STATE_DIR/logs/$name.log" 2>&1 </dev/null &
  local pid=$!
  echo "$(pid_var "$name")=$pid" >>"$STATE_DIR/env"
  echo "$pid"
}

component_failed() {
  local name=$1
  log "$name failed; last lines of $STATE_DIR/logs/$name.log:" >&2
  tail -n 30 "$STATE_DIR/logs/$name.log" >&2 || true
}

on_start_error() {
  local rc=$?
  ((rc != 0)) || rc=1
  if $START_FAILED_CLEANUP && [[ -n $STATE_DIR && -f $STATE_DIR/env ]]; then
    log "start failed; stopping what was started (logs kept in $STATE_DIR/logs)" >&2
    kill_components "$STATE_DIR"
    rm -rf "$STATE_DIR/etcd" "$STATE_DIR/pki"
  fi
  exit "$rc"
}

# wait_until SECONDS DESCRIPTION COMMAND...: retries every 0.1 s.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline
  deadline=$(awk -v a="$(now)" -v l="$limit" 'BEGIN { printf "%.3f", a + l }')
  until "$@" >/dev/null 2>&1; do
    if awk -v a="$(now)" -v d="$deadline" 'BEGIN { exit !(a > d) }'; then
      log "timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

readyz() {
  local dir=$1 url
  url=$(env_get "$dir/env" LAB_APISERVER_URL)
  [[ -n $url ]] || return 1
  curl -fsS --max-time 2 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" \
    --key "$dir/pki/admin.key" "$url/readyz" 2>/dev/null
}

healthz_insecure() { curl -fsS -k --max-time 2 "https://127.0.0.1:$1/healthz"; }

alive_or_fail() {
  local name=$1 pid=$2
  if ! kill -0 "$pid" 2>/dev/null; then
    component_failed "$name"
    return 1
  fi
}

nodes_ready_untainted() {
  local out
  out=$("$KUBECTL" --kubeconfig "$1" get nodes -o \
    'jsonpath={range .items[*]}{.metadata.name}:{.status.conditions[?(@.type=="Ready")].status}:{.spec.taints}{"\n"}{end}') ||
    return 1
  local n line
  for n in "${NODES[@]}"; do
    line=$(grep "^$n:" <<<"$out") || return 1
    [[ $line == "$n:True:" ]] || return 1
  done
}

# Real Istio (--istio): the chart repository server, and istiod, which waits for the istiod chart's
# injector ConfigMap and then becomes pilot-discovery (tests/istio/cmd/istiod).
start_istio() {
  local dir=$1 t0=$2
  local charts_bin istiod_bin pilot_bin repo=$LAB_CACHE/tools/istio-charts-$ISTIO_CHART_VERSION
  charts_bin=$(find_tool istio-charts)
  istiod_bin=$(find_tool istiod)
  pilot_bin=$(find_tool pilot-discovery)
  [[ -f $repo/index.yaml ]] || die "no chart repository at $repo: run scripts/toolchain.sh --only istio-charts"
  local free http_port grpc_port sgrpc_port mon_port ctrlz_port free2
  read -r free free2 http_port grpc_port sgrpc_port mon_port ctrlz_port <<<"$(free_ports 7)"
  local charts_port=${LAB_ISTIO_CHARTS_PORT:-$free} webhook_port=${LAB_ISTIOD_WEBHOOK_PORT:-$free2}
  cat >>"$dir/env" <<EOF
LAB_ISTIO_CHART_VERSION=$ISTIO_CHART_VERSION
LAB_ISTIO_CHARTS_URL=http://127.0.0.1:$charts_port
LAB_ISTIOD_WEBHOOK_URL=https://127.0.0.1:$webhook_port
LAB_ISTIOD_DEBUG_URL=http://127.0.0.1:$http_port
LAB_ISTIOD_XDS_ADDRESS=127.0.0.1:$grpc_port
LAB_ISTIOD_MONITORING_URL=http://127.0.0.1:$mon_port
EOF
  # The cluster's own copy: a test may add a chart version to it (istio-charts package --out DIR/charts).
  cp -r "$repo" "$dir/charts"
  local charts_pid istiod_pid
  charts_pid=$(spawn istio-charts "$charts_bin" serve --dir "$dir/charts" --addr "127.0.0.1:$charts_port")
  istiod_pid=$(spawn istiod "$istiod_bin" --pilot-discovery "$pilot_bin" --kubeconfig "$dir/kubeconfig" \
    --workdir "$dir/run/istiod" --tls-cert "$dir/pki/istiod.crt" --tls-key "$dir/pki/istiod.key" \
    --ca-cert "$dir/pki/ca.crt" --http-port "$http_port" --grpc-port "$grpc_port" \
    --secure-grpc-port "$sgrpc_port" --webhook-port "$webhook_port" --monitoring-port "$mon_port" \
    --ctrlz-port "$ctrlz_port")
  wait_until 10 "the chart repository" curl -fsS --max-time 2 "http://127.0.0.1:$charts_port/index.yaml" ||
    { component_failed istio-charts; die "the chart repository did not answer"; }
  alive_or_fail istiod "$istiod_pid"
  log "istio-charts (pid $charts_pid): Istio $ISTIO_CHART_VERSION charts on http://127.0.0.1:$charts_port"
  log "istiod (pid $istiod_pid) started at $(date -u +%H:%M:%S) UTC ($(elapsed "$t0")s); it runs pilot-discovery" \
    "once the istiod chart is installed; webhooks https://127.0.0.1:$webhook_port (log: $dir/logs/istiod.log)"
}

cmd_start() {
  local dir=$1
  local t0
  t0=$(now)
  if [[ -z $dir ]]; then
    dir=$(mktemp -d /tmp/lab-cluster.XXXXXX)
  else
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -f $dir/$MARKER ]]; then
      die "$dir already holds a cluster: run '$0 stop --dir $dir' first"
    fi
    [[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
  fi
  [[ $dir =~ ^[A-Za-z0-9_./+-]+$ ]] || die "state folder path must not contain spaces or quotes: $dir"
  STATE_DIR=$dir
  log "state folder: $dir"

  local etcd_bin apiserver_bin kcm_bin scheduler_bin kwok_bin
  etcd_bin=$(find_tool etcd)
  apiserver_bin=$(find_tool kube-apiserver)
  kcm_bin=$(find_tool kube-controller-manager)
  scheduler_bin=$(find_tool kube-scheduler)
  kwok_bin=$(find_tool kwok)
  KUBECTL=$(find_tool kubectl)
  command -v openssl >/dev/null 2>&1 || die "openssl not found: run scripts/toolchain.sh first"

  touch "$dir/$MARKER"
  mkdir -p "$dir/logs" "$dir/etcd" "$dir/pki" "$dir/run"
  START_FAILED_CLEANUP=true
  trap on_start_error EXIT

  make_pki "$dir/pki"
  local ports etcd_port peer_port api_port kcm_port sched_port
  ports=$(free_ports 5)
  read -r etcd_port peer_port api_port kcm_port sched_port <<<"$ports"
  local server="https://127.0.0.1:$api_port"
  write_kubeconfig "$dir/kubeconfig" "$server" "$dir/pki"
  kwok_stages "$dir/kwok-stages.yaml"
  cat >"$dir/env" <<EOF
KUBECONFIG=$dir/kubeconfig
LAB_CLUSTER_DIR=$dir
LAB_APISERVER_URL=$server
LAB_ETCD_URL=http://127.0.0.1:$etcd_port
LAB_APISERVER_PORT=$api_port
LAB_KUBE_CONTROLLER_MANAGER_PORT=$kcm_port
LAB_KUBE_SCHEDULER_PORT=$sched_port
EOF
  log "certificates and kubeconfig written ($(elapsed "$t0")s); ports: etcd $etcd_port/$peer_port, apiserver $api_port, controller-manager $kcm_port, scheduler $sched_port"

  local etcd_pid
  etcd_pid=$(spawn etcd "$etcd_bin" --name lab --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "lab=http://127.0.0.1:$peer_port" \
    --initial-cluster-state new \
    --unsafe-no-fsync=true \
    --log-level warn)

  local pki=$dir/pki
  local api_pid
  api_pid=$(spawn kube-apiserver "$apiserver_bin" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --requestheader-client-ca-file "$pki/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC \
    --endpoint-reconciler-type none \
    --allow-privileged=true \
    --cert-dir "$dir/run/apiserver" \
    --profiling=false)
  log "etcd (pid $etcd_pid) and kube-apiserver (pid $api_pid) started; waiting for /readyz..."
  local ok=false i
  for ((i = 0; i < 600; i++)); do
    if readyz "$dir" >/dev/null; then
      ok=true
      break
    fi
    alive_or_fail etcd "$etcd_pid"
    alive_or_fail kube-apiserver "$api_pid"
    sleep 0.1
  done
  $ok || {
    component_failed kube-apiserver
    die "kube-apiserver did not become ready in 60s"
  }
  log "kube-apiserver ready ($(elapsed "$t0")s)"

  local kubeconfig=$dir/kubeconfig
  local kcm_pid sched_pid kwok_pid
  kcm_pid=$(spawn kube-controller-manager "$kcm_bin" \
    --kubeconfig "$kubeconfig" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" --cert-dir "$dir/run/kcm" \
    --leader-elect=false \
    --controllers garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,deployment-controller,replicaset-controller,endpoints-controller,endpointslice-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,daemonset-controller,statefulset-controller,job-controller \
    --service-account-private-key-file "$pki/sa.key" \
    --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --concurrent-gc-syncs 5 \
    --profiling=false)
  sched_pid=$(spawn kube-scheduler "$scheduler_bin" \
    --kubeconfig "$kubeconfig" \
    --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$sched_port" --cert-dir "$dir/run/scheduler" \
    --leader-elect=false \
    --profiling=false)
  kwok_pid=$(spawn kwok "$kwok_bin" \
    --kubeconfig "$kubeconfig" \
    --config "$dir/kwok-stages.yaml" \
    --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 \
    --cidr "$POD_CIDR" \
    --node-lease-duration-seconds 40)
  log "kube-controller-manager (pid $kcm_pid), kube-scheduler (pid $sched_pid), kwok (pid $kwok_pid) started"

  {
    local n
    for n in "${NODES[@]}"; do node_manifest "$n"; done
    # Real Istio brings its own CRDs (base chart) and ingress gateway (gateway chart).
    if ! $ISTIO; then
      crds_manifest
      ingress_gateway_manifest
    fi
  } >"$dir/bootstrap.yaml"
  # The Deployment and Service may be refused for a moment while the API server finishes its own
  # start-up (service account admission, namespace lifecycle): retry briefly.
  for ((i = 0; i < 50; i++)); do
    if "$KUBECTL" --kubeconfig "$kubeconfig" apply -f "$dir/bootstrap.yaml" >"$dir/logs/bootstrap.log" 2>&1; then
      break
    fi
    ((i < 49)) || {
      cat "$dir/logs/bootstrap.log" >&2
      die "could not apply the nodes, CRDs and ingress gateway"
    }
    sleep 0.2
  done
  if $ISTIO; then
    log "nodes ${NODES[*]} applied ($(elapsed "$t0")s)"
    start_istio "$dir" "$t0"
  else
    log "nodes ${NODES[*]}, ${#ISTIO_CRDS[@]} Istio CRDs and the istio-ingressgateway stand-in applied ($(elapsed "$t0")s)"
    local crds
    mapfile -t crds < <(crd_names)
    "$KUBECTL" --kubeconfig "$kubeconfig" wait --for condition=Established --timeout 60s "${crds[@]}" \
      >>"$dir/logs/bootstrap.log" 2>&1 || die "Istio CRDs not Established in 60s (see $dir/logs/bootstrap.log)"
  fi
  for ((i = 0; i < 600; i++)); do
    nodes_ready_untainted "$kubeconfig" && break
    alive_or_fail kwok "$kwok_pid"
    alive_or_fail kube-controller-manager "$kcm_pid"
    ((i < 599)) || die "nodes not Ready and untainted in 60s: $("$KUBECTL" --kubeconfig "$kubeconfig" get nodes -o wide 2>&1)"
    sleep 0.1
  done
  log "nodes Ready and untainted$($ISTIO || echo ", CRDs Established") ($(elapsed "$t0")s)"
  wait_until 30 "kube-scheduler /healthz" healthz_insecure "$sched_port" ||
    { component_failed kube-scheduler; die "kube-scheduler not healthy"; }
  wait_until 30 "kube-controller-manager /healthz" healthz_insecure "$kcm_port" ||
    { component_failed kube-controller-manager; die "kube-controller-manager not healthy"; }

  START_FAILED_CLEANUP=false
  trap - EXIT
  log "ready in $(elapsed "$t0")s: KUBECONFIG=$dir/kubeconfig LAB_CLUSTER_DIR=$dir"
}

# ---------------------------------------------------------------------------------------------
# stop / status
# ---------------------------------------------------------------------------------------------
kill_components() {
  local dir=$1
  local envfile=$dir/env
  local names=() pids=() idx name pid
  for ((idx = ${#COMPONENTS[@]} - 1; idx >= 0; idx--)); do
    name=${COMPONENTS[idx]}
    pid=$(env_get "$envfile" "$(pid_var "$name")")
    if [[ -n $pid ]] && pid_is "$pid" "$name"; then
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$name")
      pids+=("$pid")
    fi
  done
  ((${#pids[@]} > 0)) || return 0
  local deadline=$((SECONDS + 5)) alive
  while :; do
    alive=()
    for idx in "${!pids[@]}"; do
      pid_running "${pids[idx]}" && alive+=("$idx")
    done
    ((${#alive[@]} == 0)) && break
    if ((SECONDS >= deadline)); then
      for idx in "${alive[@]}"; do
        pid_is "${pids[idx]}" "${names[idx]}" || continue
        log "${names[idx]} (pid ${pids[idx]}) still running after SIGTERM: SIGKILL"
        kill -KILL "${pids[idx]}" 2>/dev/null || true
      done
      sleep 0.2
      break
    fi
    sleep 0.1
  done
}

drain_workloads() {
  local dir=$1
  local kubeconfig=$dir/kubeconfig
  local bound=${LAB_STOP_DRAIN_SECONDS:-5}
  readyz "$dir" >/dev/null 2>&1 || return 0
  local kwok_pid
  kwok_pid=$(env_get "$dir/env" LAB_KWOK_PID)
  pid_is "$kwok_pid" kwok || return 0
  local all ns workload=()
  all=$("$KUBECTL" --kubeconfig "$kubeconfig" get namespaces -o 'jsonpath={.items[*].metadata.name}' \
    --request-timeout 5s 2>/dev/null) || return 0
  for ns in $all; do
    case " ${SYSTEM_NAMESPACES[*]} " in *" $ns "*) continue ;; esac
    workload+=("$ns")
  done
  ((${#workload[@]} > 0)) || return 0
  log "deleting namespaces ${workload[*]} (waiting at most ${bound}s)"
  "$KUBECTL" --kubeconfig "$kubeconfig" delete namespace "${workload[@]}" --wait=false \
    --request-timeout 5s >/dev/null 2>&1 || true
  "$KUBECTL" --kubeconfig "$kubeconfig" wait --for=delete namespace "${workload[@]}" \
    --timeout "${bound}s" >/dev/null 2>&1 || log "namespaces still terminating after ${bound}s; stopping anyway"
}

resolve_dir() {
  local dir=$1
  [[ -n $dir ]] || dir=${LAB_CLUSTER_DIR:-}
  echo "$dir"
}

cmd_stop() {
  local dir
  dir=$(resolve_dir "$1")
  if [[ -z $dir ]]; then
    die "no cluster folder: pass --dir DIR or set LAB_CLUSTER_DIR"
  fi
  if [[ ! -d $dir ]]; then
    log "$dir does not exist: nothing to stop"
    return 0
  fi
  [[ -f $dir/$MARKER ]] || die "$dir was not made by $0 (no $MARKER file): not touching it"
  local t0
  t0=$(now)
  drain_workloads "$dir"
  kill_components "$dir"
  rm -rf "$dir"
  log "stopped and removed $dir in $(elapsed "$t0")s"
}

cmd_status() {
  local dir
  dir=$(resolve_dir "$1")
  [[ -n $dir ]] || die "no cluster folder: pass --dir DIR or set LAB_CLUSTER_DIR"
  if [[ ! -f $dir/env ]]; then
    log "no cluster in $dir"
    return 1
  fi
  local name pid rc=0
  local with_istio=false
  [[ -n $(env_get "$dir/env" LAB_ISTIOD_WEBHOOK_URL) ]] && with_istio=true
  for name in "${COMPONENTS[@]}"; do
    pid=$(env_get "$dir/env" "$(pid_var "$name")")
    if [[ -z $pid ]] && ! $with_istio && [[ " ${ISTIO_COMPONENTS[*]} " == *" $name "* ]]; then
      continue
    elif [[ -z $pid ]]; then
      printf '%-24s not started\n' "$name"
      rc=1
    elif pid_is "$pid" "$name"; then
      printf '%-24s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-24s dead (pid %s)\n' "$name" "$pid"
      rc=1
    fi
  done
  local url
  url=$(env_get "$dir/env" LAB_APISERVER_URL)
  if readyz "$dir" >/dev/null 2>&1; then
    printf '%-24s ok (%s/readyz)\n' readyz "$url"
  else
    printf '%-24s not answering (%s/readyz)\n' readyz "$url"
    rc=1
  fi
  return "$rc"
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || {
    usage >&2
    exit 2
  }
  shift
  local dir=""
  while (($# > 0)); do
    case $1 in
      --istio)
        ISTIO=true
        shift
        ;;
      --dir)
        [[ $# -ge 2 ]] || die "--dir needs a value"
        dir=$2
        shift 2
        ;;
      --dir=*)
        dir=${1#--dir=}
        shift
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        exit 2
        ;;
    esac
  done
  case $cmd in
    start) cmd_start "$dir" ;;
    stop) cmd_stop "$dir" ;;
    status) cmd_status "$dir" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

# Run main unless sourced (tests source this file to reach its functions).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
