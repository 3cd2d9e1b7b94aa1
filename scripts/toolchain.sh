#!/usr/bin/env bash
# Builds the tools the engine tests need (Pulumi CLI, language host, Kubernetes provider, a
# Kubernetes control plane, etcd, kwok, istioctl, pilot-discovery; Istio's charts packaged as a chart
# repository) from their Go modules, and installs the Debian packages the tests use. Versions live
# in scripts/versions.env.
#
# Output: ${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}/tools/<tool>-<version>/<binary>, and
# $LAB_CACHE/bin, a folder of symlinks to the pinned versions, to put on PATH.
# A second run with the same versions does nothing.
#
# Usage: scripts/toolchain.sh [--print-path] [--only NAME...] [--skip-apt] [--apt-only]
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env disable=SC1091
source "$SCRIPT_DIR/versions.env"

LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
TOOLS_DIR=$LAB_CACHE/tools
BIN_DIR=$LAB_CACHE/bin
BUILD_DIR=$LAB_CACHE/build
LOG_DIR=$LAB_CACHE/logs

ALL_TOOLS=(pulumi pulumi-language-nodejs pulumi-resource-kubernetes etcd kube-apiserver
  kube-controller-manager kube-scheduler kwok istioctl kubectl standins sources pilot-discovery istio-charts)

usage() {
  cat <<EOF
usage: $0 [--print-path] [--print-standins] [--only NAME...] [--skip-apt]
  --print-path   print the bin folder to put on PATH and exit
  --print-standins  print the folder of the command/random provider stand-ins for the current
                 tests/standins sources (for engine tests only; never on PATH) and exit
  --print-sources  print the folder of the test hosts' local sources (apt repositories, images;
                 scripts/toolchain-sources.sh) for the current versions and exit
  --only NAME... build only these tools (${ALL_TOOLS[*]})
  --skip-apt     do not check or install Debian packages
  --apt-only     only check and install the Debian packages, then exit
EOF
}

PRINT_PATH=false
PRINT_STANDINS=false
PRINT_SOURCES=false
SKIP_APT=false
APT_ONLY=false
ONLY=()
while (($# > 0)); do
  case $1 in
    --print-path) PRINT_PATH=true ;;
    --print-standins) PRINT_STANDINS=true ;;
    --print-sources) PRINT_SOURCES=true ;;
    --skip-apt) SKIP_APT=true ;;
    --apt-only) APT_ONLY=true ;;
    --only)
      shift
      while (($# > 0)) && [[ $1 != --* ]]; do
        ONLY+=("$1")
        shift
      done
      continue
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
  shift
done

if $PRINT_PATH; then
  echo "$BIN_DIR"
  exit 0
fi

# The command and random provider stand-ins (tests/standins) are built from this repository's own
# module, in a folder named by a hash of their sources: a source change means a rebuild.
STANDINS_SRC=$(cd "$SCRIPT_DIR/../tests/standins" && pwd)
standins_dir() {
  local hash
  hash=$(cd "$STANDINS_SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  echo "$TOOLS_DIR/standins-$hash"
}
if $PRINT_STANDINS; then
  standins_dir
  exit 0
fi

# The test hosts' local sources (apt repositories, images): scripts/toolchain-sources.sh.
# shellcheck source=toolchain-sources.sh disable=SC1091
source "$SCRIPT_DIR/toolchain-sources.sh"
if $PRINT_SOURCES; then
  sources_dir
  exit 0
fi

for name in "${ONLY[@]}"; do
  case " ${ALL_TOOLS[*]} " in
    *" $name "*) ;;
    *)
      echo "[toolchain] unknown tool '$name' (known: ${ALL_TOOLS[*]})" >&2
      exit 2
      ;;
  esac
done

export GOTOOLCHAIN=local CGO_ENABLED=0
# Keep whatever GOFLAGS the machine has (e.g. -buildvcs=false) and make sure VCS stamping is off:
# the wrapper folders are not repositories.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"

log() { printf '[toolchain] %s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() {
  printf '[toolchain] %s ERROR: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "go not found on PATH (expected Go 1.26 at /usr/local/go/bin)"

mkdir -p "$TOOLS_DIR" "$BIN_DIR" "$BUILD_DIR" "$LOG_DIR"

# One run at a time per cache: the wrapper folders under build/ are shared.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$LAB_CACHE/.toolchain.lock"
  if ! flock -n 9; then
    log "another toolchain.sh run holds $LAB_CACHE/.toolchain.lock; waiting for it..."
    flock 9
  fi
fi

# ---------------------------------------------------------------------------------------------
# Debian packages
# ---------------------------------------------------------------------------------------------
ensure_apt_packages() {
  local missing=()
  command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  # sshd for the engine tests of the command stand-in (run by the test as a user-level daemon).
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  # The Debian test hosts (scripts/hosts.sh): rootfs, systemd-nspawn, their firewall.
  command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
  command -v iptables >/dev/null 2>&1 || [[ -x /usr/sbin/iptables ]] || missing+=(iptables)
  if ((${#missing[@]} == 0)); then
    log "debian packages: shellcheck, openssl, kubectl, sshd, debootstrap, systemd-nspawn, iptables present"
    return 0
  fi
  log "debian packages: installing ${missing[*]}"
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install ${missing[*]}"
    sudo=(sudo)
  fi
  local apt_log=$LOG_DIR/apt.log
  "${sudo[@]}" apt-get update -qq >"$apt_log" 2>&1 || die "apt-get update failed (see $apt_log)"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >>"$apt_log" 2>&1 || die "apt-get install ${missing[*]} failed (see $apt_log)"
}

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
CURRENT_LOG=/dev/null

# Explains a failed go command: names the module and version the proxy refused, if that was it.
explain_go_failure() {
  local logfile=$1 what=$2
  local refused
  refused=$(grep -E '(403|404|410)( |$)|Forbidden|[Nn]ot [Ff]ound|refused|unknown revision|invalid version' \
    "$logfile" | grep -oE '[A-Za-z0-9._~/-]+@v[0-9][A-Za-z0-9.+_-]*' | head -n 1 || true)
  echo "----- last lines of $logfile -----" >&2
  tail -n 25 "$logfile" >&2 || true
  echo "-----" >&2
  if [[ -n $refused ]]; then
    die "$what: the Go module proxy refused or does not have ${refused%@*} at version ${refused##*@}.
  Try another version of that module: grep '${refused%@*}' /work/.library/env/packages/go-partial.tsv
  lists versions served recently; TOOLCHAIN.md (shared/) lists the versions that built. Then change
  scripts/versions.env and run this script again."
  fi
  die "$what failed; full log: $logfile"
}

# run_go WHAT CMD...: runs a command with output appended to the tool's log.
run_go() {
  local what=$1
  shift
  echo "+ $*" >>"$CURRENT_LOG"
  if ! "$@" >>"$CURRENT_LOG" 2>&1; then
    explain_go_failure "$CURRENT_LOG" "$what"
  fi
}

# A fresh wrapper module folder for a tool.
new_wrapper() {
  local dir=$1 modname=$2
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && go mod init "$modname" >>"$CURRENT_LOG" 2>&1)
}

link_tool() {
  local target=$1 name=$2
  ln -sfn "$target" "$BIN_DIR/$name.tmp"
  mv -fT "$BIN_DIR/$name.tmp" "$BIN_DIR/$name"
}

want() {
  local name=$1
  ((${#ONLY[@]} == 0)) && return 0
  case " ${ONLY[*]} " in *" $name "*) return 0 ;; esac
  return 1
}

# build_tool NAME VERSION HINT FUNCTION: runs FUNCTION OUTFILE WORKDIR unless the binary exists.
build_tool() {
  local name=$1 version=$2 hint=$3 fn=$4
  want "$name" || return 0
  local dir=$TOOLS_DIR/$name-$version
  local bin=$dir/$name
  if [[ -x $bin ]]; then
    log "$name $version: cached"
    link_tool "$bin" "$name"
    return 0
  fi
  mkdir -p "$dir"
  CURRENT_LOG=$LOG_DIR/$name-$version.log
  : >"$CURRENT_LOG"
  local tmp="$dir/.$name.partial.$$"
  rm -f "$tmp"
  local start=$SECONDS
  log "$name $version: building ($hint; log: $CURRENT_LOG)..."
  "$fn" "$tmp" "$BUILD_DIR/$name-$version"
  [[ -x $tmp ]] || die "$name $version: the build finished but made no binary (log: $CURRENT_LOG)"
  mv -f "$tmp" "$bin"
  link_tool "$bin" "$name"
  log "$name $version: done in $((SECONDS - start))s ($(du -m "$bin" | cut -f1) MB)"
}

# ---------------------------------------------------------------------------------------------
# Builders: each gets OUTFILE and a work folder of its own.
# ---------------------------------------------------------------------------------------------
build_pulumi() {
  local out=$1 work=$2
  new_wrapper "$work" lab.local/toolchain/pulumi
  cd "$work"
  run_go "pulumi $PULUMI_VERSION" go mod edit \
    -replace "github.com/atotto/clipboard=$PULUMI_CLIPBOARD_REPLACE"
  run_go "pulumi $PULUMI_VERSION" go get \
    "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$PULUMI_VERSION" \
    "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION"
  run_go "pulumi $PULUMI_VERSION" go build -trimpath -o "$out" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  cd - >/dev/null
}

build_language_nodejs() {
  local out=$1 work=$2
  new_wrapper "$work" lab.local/toolchain/pulumi-language-nodejs
  cd "$work"
  run_go "pulumi-language-nodejs $PULUMI_LANGUAGE_NODEJS_VERSION" go mod edit \
    -replace "golang.org/x/text=$PULUMI_LANGUAGE_NODEJS_TEXT_REPLACE"
  run_go "pulumi-language-nodejs $PULUMI_LANGUAGE_NODEJS_VERSION" go get \
    "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs@$PULUMI_LANGUAGE_NODEJS_VERSION"
  run_go "pulumi-language-nodejs $PULUMI_LANGUAGE_NODEJS_VERSION" go build -trimpath -o "$out" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_LANGUAGE_NODEJS_VERSION" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
  cd - >/dev/null
}

build_kubernetes_provider() {
  local out=$1 work=$2
  local mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  local what="pulumi-resource-kubernetes $PULUMI_KUBERNETES_VERSION"
  rm -rf "$work"
  mkdir -p "$work"
  # Download the provider module itself (read-only in the module cache), then copy it out.
  local json
  echo "+ go mod download -json $mod@$PULUMI_KUBERNETES_MODULE_VERSION" >>"$CURRENT_LOG"
  if ! json=$(cd "$work" && go mod download -json "$mod@$PULUMI_KUBERNETES_MODULE_VERSION" 2>>"$CURRENT_LOG"); then
    echo "$json" >>"$CURRENT_LOG"
    explain_go_failure "$CURRENT_LOG" "$what"
  fi
  local src
  src=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
  [[ -d $src ]] || { echo "$json" >>"$CURRENT_LOG"; explain_go_failure "$CURRENT_LOG" "$what"; }
  cp -r "$src" "$work/src"
  chmod -R u+w "$work/src"
  cd "$work/src"
  run_go "$what" go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4 \
    -require "github.com/pulumi/pulumi-kubernetes/sdk/v4@$PULUMI_KUBERNETES_SDK_VERSION"
  # -mod=mod lets go fill in go.sum for the sdk module now taken from the proxy.
  GOFLAGS="$GOFLAGS -mod=mod" VERSION=$PULUMI_KUBERNETES_VERSION \
    run_go "$what (go generate)" go generate ./cmd/pulumi-resource-kubernetes
  GOFLAGS="$GOFLAGS -mod=mod" run_go "$what" go build -trimpath -o "$out" \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" \
    ./cmd/pulumi-resource-kubernetes
  cd - >/dev/null
}

build_etcd() {
  local out=$1 work=$2
  new_wrapper "$work" lab.local/toolchain/etcd
  cd "$work"
  run_go "etcd $ETCD_VERSION" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  run_go "etcd $ETCD_VERSION" go build -trimpath -o "$out" -ldflags "-s -w" go.etcd.io/etcd/server/v3
  cd - >/dev/null
}

# The v3.68 language host takes Pulumi.yaml's runtime options only as flags: PATH gets a launcher
# (scripts/language-host.sh, copied beside the binary) that reads them and passes them. Copied on every
# run, so a changed launcher takes effect without a rebuild.
install_language_launcher() {
  want pulumi-language-nodejs || return 0
  local dir=$TOOLS_DIR/pulumi-language-nodejs-$PULUMI_LANGUAGE_NODEJS_VERSION
  [[ -x $dir/pulumi-language-nodejs ]] || die "pulumi-language-nodejs: no binary in $dir"
  cp "$SCRIPT_DIR/language-host.sh" "$dir/launcher.tmp"
  chmod 755 "$dir/launcher.tmp"
  mv -f "$dir/launcher.tmp" "$dir/launcher"
  link_tool "$dir/launcher" pulumi-language-nodejs
}

# One wrapper module for the three control-plane binaries: k8s.io/kubernetes with its staging
# replaces (./staging/src/k8s.io/X) pointed at the published k8s.io/X modules.
KUBE_WORK=$BUILD_DIR/kubernetes-$KUBERNETES_VERSION
KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubeadm kubelet kube-proxy)
kube_wrapper() {
  local work=$KUBE_WORK
  if [[ -f $work/.ready && $(<"$work/.ready") == "${KUBE_CMDS[*]}" ]]; then
    return 0
  fi
  local what="k8s.io/kubernetes $KUBERNETES_VERSION"
  new_wrapper "$work" lab.local/toolchain/kubernetes
  local json gomod
  echo "+ go mod download -json k8s.io/kubernetes@$KUBERNETES_VERSION" >>"$CURRENT_LOG"
  if ! json=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" 2>>"$CURRENT_LOG"); then
    echo "$json" >>"$CURRENT_LOG"
    explain_go_failure "$CURRENT_LOG" "$what"
  fi
  gomod=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)
  [[ -f $gomod ]] || { echo "$json" >>"$CURRENT_LOG"; explain_go_failure "$CURRENT_LOG" "$what"; }
  # Each replace whose target is a local staging folder becomes a replace to the published module.
  local modjson
  modjson=$(go mod edit -json "$gomod" | tr -d ' \t' | tr '\n' ' ' | sed 's/, /,/g; s/{ /{/g; s/ }/}/g')
  local staging=()
  mapfile -t staging < <(printf '%s\n' "$modjson" |
    grep -oE '"Old":\{"Path":"k8s\.io/[^"]+"\},"New":\{"Path":"\./staging/[^"]+"\}' |
    sed -E 's/^"Old":\{"Path":"([^"]+)".*$/\1/' | sort -u)
  ((${#staging[@]} > 0)) || die "$what: found no staging replaces in $gomod"
  echo "staging modules (${#staging[@]}): ${staging[*]}" >>"$CURRENT_LOG"
  local args=() m
  for m in "${staging[@]}"; do
    args+=(-replace "$m=$m@$KUBERNETES_STAGING_VERSION")
  done
  # Same go line as k8s.io/kubernetes itself (go 1.26.0), and its godebug default.
  local gover
  gover=$(printf '%s\n' "$modjson" | grep -oE '"Go":"[0-9.]+"' | head -n 1 | cut -d'"' -f4)
  [[ -n $gover ]] || gover=1.26.0
  cd "$work"
  run_go "$what" go mod edit -go "$gover" -godebug "default=go${gover%.*}" "${args[@]}"
  # go get of the command packages (not just the module) records every go.sum line they need.
  local pkgs=() c
  for c in "${KUBE_CMDS[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/$c@$KUBERNETES_VERSION")
  done
  run_go "$what" go get "${pkgs[@]}"
  cd - >/dev/null
  echo "${KUBE_CMDS[*]}" >"$work/.ready"
}

kube_ldflags() {
  local major minor pkg
  major=${KUBERNETES_VERSION#v}
  major=${major%%.*}
  minor=${KUBERNETES_VERSION#v*.}
  minor=${minor%%.*}
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

build_kube_cmd() {
  local cmd=$1 out=$2
  kube_wrapper
  cd "$KUBE_WORK"
  run_go "$cmd $KUBERNETES_VERSION" go build -trimpath -o "$out" -ldflags "$(kube_ldflags)" \
    "k8s.io/kubernetes/cmd/$cmd"
  cd - >/dev/null
}
build_kube_apiserver() { build_kube_cmd kube-apiserver "$1"; }
build_kube_controller_manager() { build_kube_cmd kube-controller-manager "$1"; }
build_kube_scheduler() { build_kube_cmd kube-scheduler "$1"; }
build_kubectl() { build_kube_cmd kubectl "$1"; }

# go install into a private GOBIN, then hand the binary over under the temporary name.
go_install_to() {
  local what=$1 pkg=$2 out=$3 work=$4 ldflags=${5:-"-s -w"}
  rm -rf "$work"
  mkdir -p "$work/bin"
  (cd "$work" && GOBIN="$work/bin" run_go "$what" go install -trimpath -ldflags "$ldflags" "$pkg")
  mv -f "$work/bin/$(basename "${pkg%@*}")" "$out"
}

build_kwok() {
  go_install_to "kwok $KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "$1" "$2" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
}

build_istioctl() {
  go_install_to "istioctl $ISTIO_MODULE_VERSION" \
    "istio.io/istio/istioctl/cmd/istioctl@$ISTIO_MODULE_VERSION" "$1" "$2"
}

# istiod for the local cluster (scripts/cluster.sh --istio), from the same module as istioctl.
build_pilot_discovery() {
  go_install_to "pilot-discovery $ISTIO_MODULE_VERSION" \
    "istio.io/istio/pilot/cmd/pilot-discovery@$ISTIO_MODULE_VERSION" "$1" "$2"
}

# Istio's charts (manifests/charts of the same module) as a chart repository, by ISTIO_CHART_VERSION,
# and tests/istio's commands that serve it and run istiod on loopback, by a hash of their sources.
ISTIO_LOCAL_SRC=$(cd "$SCRIPT_DIR/../tests/istio" && pwd)
build_istio_charts() {
  want istio-charts || return 0
  local hash dir repo=$TOOLS_DIR/istio-charts-$ISTIO_CHART_VERSION start=$SECONDS src
  hash=$(cd "$ISTIO_LOCAL_SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  dir=$TOOLS_DIR/istio-local-$hash
  CURRENT_LOG=$LOG_DIR/istio-charts.log
  if [[ ! -x $dir/istiod || ! -x $dir/istio-charts ]]; then
    : >"$CURRENT_LOG"
    log "istio-charts: building tests/istio (chart packager and server, istiod launcher; log: $CURRENT_LOG)..."
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    (cd "$ISTIO_LOCAL_SRC" && run_go "tests/istio" go build -trimpath -ldflags "-s -w" -o "$dir.partial/" \
      ./cmd/istio-charts ./cmd/istiod)
    rm -rf "$dir" && mv -fT "$dir.partial" "$dir"
    find "$TOOLS_DIR" -maxdepth 1 -name 'istio-local-*' ! -name "${dir##*/}" -exec rm -rf {} +
  fi
  link_tool "$dir/istio-charts" istio-charts
  link_tool "$dir/istiod" istiod
  if [[ -f $repo/index.yaml ]]; then
    log "istio-charts $ISTIO_CHART_VERSION: cached ($repo)"
    return 0
  fi
  src=$(cd "$BUILD_DIR" && go mod download -json "istio.io/istio@$ISTIO_MODULE_VERSION" 2>>"$CURRENT_LOG" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1) || true
  [[ -d $src/manifests/charts ]] || explain_go_failure "$CURRENT_LOG" "istio.io/istio $ISTIO_MODULE_VERSION (charts)"
  rm -rf "$repo.partial"
  run_go "istio-charts $ISTIO_CHART_VERSION" "$dir/istio-charts" package --src "$src/manifests/charts" \
    --version "$ISTIO_CHART_VERSION" --out "$repo.partial"
  rm -rf "$repo" && mv -fT "$repo.partial" "$repo"
  log "istio-charts $ISTIO_CHART_VERSION: base, istiod, gateway packaged in $((SECONDS - start))s ($repo)"
}

# The stand-ins go to their own folder and are NOT linked into $BIN_DIR: only engine tests install
# them, into their own PULUMI_HOME (tests/engine/support/pulumi.ts), never on a user's PATH.
STANDIN_BINARIES=(pulumi-resource-command pulumi-resource-random)
build_standins() {
  want standins || return 0
  local dir name
  dir=$(standins_dir)
  if [[ -x $dir/${STANDIN_BINARIES[0]} && -x $dir/${STANDIN_BINARIES[1]} ]]; then
    log "standins ${dir##*/standins-}: cached"
    return 0
  fi
  CURRENT_LOG=$LOG_DIR/standins.log
  : >"$CURRENT_LOG"
  local tmp="$dir.partial.$$" start=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "standins ${dir##*/standins-}: building from tests/standins (~1 min cold, seconds warm; log: $CURRENT_LOG)..."
  (cd "$STANDINS_SRC" && run_go "provider stand-ins (tests/standins)" go build -trimpath -ldflags "-s -w" \
    -o "$tmp/" ./cmd/pulumi-resource-command ./cmd/pulumi-resource-random)
  for name in "${STANDIN_BINARIES[@]}"; do
    [[ -x $tmp/$name ]] || die "standins: the build made no $name (log: $CURRENT_LOG)"
  done
  rm -rf "$dir"
  mv -fT "$tmp" "$dir"
  # Folders of older sources are of no further use.
  find "$TOOLS_DIR" -maxdepth 1 -name 'standins-*' ! -name "${dir##*/}" -exec rm -rf {} +
  log "standins ${dir##*/standins-}: done in $((SECONDS - start))s ($dir)"
}

# ---------------------------------------------------------------------------------------------
TOTAL_START=$SECONDS
log "cache: $LAB_CACHE (GOMODCACHE=$(go env GOMODCACHE), GOCACHE=$(go env GOCACHE), $(go env GOVERSION))"
$SKIP_APT || ensure_apt_packages
if $APT_ONLY; then
  exit 0
fi

# Two lanes of builds at once: Go keeps both cores busy while compiling, but each build also has
# serial stretches (module downloads, linking) that the other lane fills. Each lane is in build order.
lane_engine() {
  build_tool pulumi "$PULUMI_VERSION" "cold builds take ~8 min" build_pulumi
  build_tool pulumi-language-nodejs "$PULUMI_LANGUAGE_NODEJS_VERSION" "cold builds take ~1 min" \
    build_language_nodejs
  install_language_launcher
  build_tool pulumi-resource-kubernetes "$PULUMI_KUBERNETES_VERSION" "cold builds take ~9 min" \
    build_kubernetes_provider
  build_tool istioctl "$ISTIO_MODULE_VERSION" "cold builds take ~5 min" build_istioctl
  build_tool pilot-discovery "$ISTIO_MODULE_VERSION" "~2-4 min after istioctl" build_pilot_discovery
  build_istio_charts
  build_standins
}
lane_cluster() {
  build_tool etcd "$ETCD_VERSION" "cold builds take ~1 min" build_etcd
  build_tool kube-apiserver "$KUBERNETES_VERSION" "cold builds take ~7 min" build_kube_apiserver
  build_tool kube-controller-manager "$KUBERNETES_VERSION" "~1-2 min after kube-apiserver" \
    build_kube_controller_manager
  build_tool kube-scheduler "$KUBERNETES_VERSION" "under a minute after kube-apiserver" \
    build_kube_scheduler
  build_tool kwok "$KWOK_VERSION" "cold builds take ~1-2 min" build_kwok
  # A kubectl of the same minor as the API server (the machine's may be older or missing).
  build_tool kubectl "$KUBERNETES_VERSION" "~1-2 min after kube-apiserver" build_kubectl
  build_sources
}
lane_engine &
engine_pid=$!
lane_cluster &
cluster_pid=$!
failed=0
wait "$engine_pid" || failed=1
wait "$cluster_pid" || failed=1
((failed == 0)) || die "a build failed (its error is above; logs in $LOG_DIR)"

log "all done in $((SECONDS - TOTAL_START))s; put on PATH: $BIN_DIR"
