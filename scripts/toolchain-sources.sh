# shellcheck shell=bash
# Sourced by scripts/toolchain.sh (tool "sources"): the test hosts' local sources (issue 13, part 3).
# Builds from Go modules what pkgs.k8s.io, Docker's apt repository and registry.k8s.io would serve,
# caches each piece by version, and assembles them in one folder, $TOOLS_DIR/sources-<key>:
#
#   kubernetes/   kubeadm, kubelet, kubectl, cri-tools, kubernetes-cni .debs + Packages (flat repository)
#   docker/       pool/ + dists/bookworm/stable/binary-amd64/Packages: containerd.io
#   debian/       pool/ + dists/bookworm/main/binary-amd64/Packages: the Debian packages those depend
#                 on (runc, iptables and their libraries), fetched with this machine's apt
#   images/       OCI image layout: the images `kubeadm config images list` names, flannel's two
#                 images (flannel-io/...), istiod's (istio/pilot, the pinned Istio module's
#                 pilot-discovery) and the pod-network checks' image (lab/netcheck)
#   bin/          sources (server and image assembler), kubeadm (for the tests)
#
# Release files and signatures are made at start by tests/rig/sources.ts with a key of that run.
# Uses toolchain.sh's helpers (log, die, run_go, build_kube_cmd, go_install_to, ...).

SOURCES_SRC=$(cd "$SCRIPT_DIR/../tests/rig/sources" && pwd)
# What the assembled folder is made from: a change to any of these gives a new folder.
SOURCES_VERSION_VARS=(KUBERNETES_VERSION KUBE_DEB_REVISION CRI_TOOLS_VERSION CNI_PLUGINS_VERSION
  CONTAINERD_VERSION COREDNS_VERSION ETCD_IMAGE_VERSION PAUSE_VERSION FLANNEL_VERSION FLANNEL_CNI_PLUGIN_VERSION
  ISTIO_MODULE_VERSION ISTIO_CHART_VERSION)
DEBIAN_MIRRORED=(runc iptables)

sources_src_hash() {
  (cd "$SOURCES_SRC" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

sources_dir() {
  local v key
  key=$( {
    for v in "${SOURCES_VERSION_VARS[@]}"; do echo "$v=${!v}"; done
    sources_src_hash
    coredns_key
    (cd "$SOURCES_SRC/packaging" && LC_ALL=C sha256sum ./*)
    sha256sum <"$SCRIPT_DIR/toolchain-sources.sh"
  } | sha256sum | cut -c1-16)
  echo "$TOOLS_DIR/sources-$key"
}

# build_artifact NAME VERSION HINT FN: like build_tool, for what only the test hosts use: a folder
# $TOOLS_DIR/NAME-VERSION filled by FN OUTDIR WORKDIR, never linked into $BIN_DIR.
build_artifact() {
  local name=$1 version=$2 hint=$3 fn=$4
  local dir=$TOOLS_DIR/$name-$version
  if [[ -f $dir/.done ]]; then
    log "$name $version: cached"
    return 0
  fi
  CURRENT_LOG=$LOG_DIR/$name-$version.log
  : >"$CURRENT_LOG"
  local tmp=$dir.partial.$$ start=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "$name $version: building ($hint; log: $CURRENT_LOG)..."
  "$fn" "$tmp" "$BUILD_DIR/$name-$version"
  date -u +%FT%TZ >"$tmp/.done"
  rm -rf "$dir"
  mv -fT "$tmp" "$dir"
  log "$name $version: done in $((SECONDS - start))s ($(du -sm "$dir" | cut -f1) MB)"
}

build_kube_node() {
  local out=$1 cmd
  for cmd in kubeadm kubelet kube-proxy; do
    build_kube_cmd "$cmd" "$out/$cmd"
  done
}

build_crictl() {
  go_install_to "crictl $CRI_TOOLS_VERSION" "sigs.k8s.io/cri-tools/cmd/crictl@$CRI_TOOLS_VERSION" "$1/crictl" "$2" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRI_TOOLS_VERSION#v}"
}

# go install of several packages into OUTDIR.
go_install_many() {
  local what=$1 out=$2 work=$3 ldflags=$4
  shift 4
  rm -rf "$work"
  mkdir -p "$work"
  (cd "$work" && GOBIN="$out" run_go "$what" go install -trimpath -ldflags "$ldflags" "$@")
}

build_cni_plugins() {
  local v=$CNI_PLUGINS_VERSION
  go_install_many "CNI plugins $v" "$1" "$2" \
    "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v" \
    "github.com/containernetworking/plugins/plugins/ipam/...@$v" \
    "github.com/containernetworking/plugins/plugins/main/...@$v" \
    "github.com/containernetworking/plugins/plugins/meta/...@$v"
  # The release tarballs (and so kubernetes-cni) have no windows-only plugin.
  rm -f "$1/windows"
}

build_containerd() {
  local v=$CONTAINERD_VERSION m=github.com/containerd/containerd/v2
  # btrfs needs cgo; the tag (and CGO_ENABLED=0) leave it out, as containerd's static builds do.
  GOFLAGS="$GOFLAGS -tags=no_btrfs,no_devmapper" go_install_many "containerd $v" "$1" "$2" \
    "-s -w -X $m/version.Version=$v -X $m/version.Package=github.com/containerd/containerd" \
    "$m/cmd/containerd@$v" "$m/cmd/containerd-shim-runc-v2@$v" "$m/cmd/ctr@$v"
}

# CoreDNS from the module tests/rig/coredns: coremain with only the plugins kubeadm's Corefile names.
COREDNS_SRC=$(cd "$SCRIPT_DIR/../tests/rig/coredns" && pwd)
coredns_key() {
  echo "$COREDNS_VERSION-$(cd "$COREDNS_SRC" && cat main.go go.mod go.sum | sha256sum | cut -c1-8)"
}
build_coredns() {
  grep -q "^require github.com/coredns/coredns $COREDNS_VERSION\$" "$COREDNS_SRC/go.mod" ||
    die "tests/rig/coredns/go.mod does not require github.com/coredns/coredns $COREDNS_VERSION (scripts/versions.env):
  run (cd tests/rig/coredns && go get github.com/coredns/coredns@$COREDNS_VERSION && go mod tidy)"
  (cd "$COREDNS_SRC" && run_go "coredns $COREDNS_VERSION" go build -trimpath -ldflags "-s -w" -o "$1/coredns" .)
}

build_etcd_image_bin() {
  local out=$1 work=$2 v=$ETCD_IMAGE_VERSION
  new_wrapper "$work" lab.local/toolchain/etcd-image
  (
    cd "$work" || exit 1
    run_go "etcd $v" go get "go.etcd.io/etcd/server/v3@$v" "go.etcd.io/etcd/etcdctl/v3@$v"
    run_go "etcd $v" go build -trimpath -o "$out/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
    run_go "etcd $v" go build -trimpath -o "$out/etcdctl" -ldflags "-s -w" go.etcd.io/etcd/etcdctl/v3
  )
}

build_sources_bin() {
  (cd "$SOURCES_SRC" && CGO_ENABLED=0 run_go "tests/rig/sources" go build -trimpath -ldflags "-s -w" -o "$1/" \
    ./cmd/pause ./cmd/sources ./cmd/cp ./cmd/netcheck)
}

# flanneld and install-conf from flannel's module as the proxy serves it. Its main package registers
# every backend; two cannot build here (udp needs cgo, tencentvpc's SDK module is refused by the proxy),
# so the build drops those two imports from a copy of the module and keeps the others (vxlan, host-gw,
# ipip, wireguard, ipsec, alloc, extension).
build_flannel() {
  local out=$1 work=$2 v=$FLANNEL_VERSION m=github.com/flannel-io/flannel dir dropped
  rm -rf "$work"
  mkdir -p "$work"
  dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$m@$v" 2>>"$CURRENT_LOG" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir && -f $dir/main.go ]] || die "flannel $v: the module proxy did not give $m@$v (log: $CURRENT_LOG)"
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  dropped=$(grep -cE "^\s*_ \"$m/pkg/backend/(udp|tencentvpc)\"$" "$work/src/main.go" || true)
  [[ $dropped == 2 ]] || die "flannel $v: main.go does not import the udp and tencentvpc backends as expected; update build_flannel"
  sed -i -E "/^\s*_ \"${m//\//\\/}\/pkg\/backend\/(udp|tencentvpc)\"$/d" "$work/src/main.go"
  (cd "$work/src" && CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" run_go "flannel $v" go build -trimpath \
    -ldflags "-s -w -X $m/pkg/version.Version=$v" -o "$out/flanneld" .)
  (cd "$work/src" && CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" run_go "flannel $v" go build -trimpath \
    -ldflags "-s -w" -o "$out/install-conf" ./cmd/install_conf)
  rm -rf "$work"
}

build_flannel_cni_plugin() {
  local v=$FLANNEL_CNI_PLUGIN_VERSION
  CGO_ENABLED=0 go_install_many "flannel CNI plugin $v" "$1" "$2" \
    "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v" \
    "github.com/containernetworking/plugins/plugins/meta/flannel@$v"
}

# ---------------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------------
DEB_MAINTAINER="kubeadm-istio-lab test sources <lab-sources@localhost>"

# make_deb OUTDIR ROOT PACKAGE VERSION DESCRIPTION [FIELD: VALUE]...: writes DEBIAN/control into
# ROOT and packs it; maintainer scripts already in ROOT/DEBIAN are kept.
make_deb() {
  local out=$1 root=$2 pkg=$3 version=$4 description=$5
  shift 5
  mkdir -p "$root/DEBIAN"
  {
    echo "Package: $pkg"
    echo "Version: $version"
    echo "Architecture: amd64"
    echo "Maintainer: $DEB_MAINTAINER"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    local field
    for field in "$@"; do echo "$field"; done
    echo "Section: admin"
    echo "Priority: optional"
    echo "Description: $description"
    echo " Built from its Go module by kubeadm-istio-lab's toolchain, for its test hosts only."
  } >"$root/DEBIAN/control"
  run_go "dpkg-deb $pkg" dpkg-deb --root-owner-group -Zgzip --build "$root" "$out/${pkg}_${version}_amd64.deb"
}

# service_scripts ROOT UNIT: postinst/prerm/postrm that enable and start UNIT like upstream's.
service_scripts() {
  local root=$1 unit=$2 s
  mkdir -p "$root/DEBIAN"
  for s in postinst prerm postrm; do
    sed "s/UNIT/$unit/g" "$SOURCES_SRC/packaging/service-$s" >"$root/DEBIAN/$s"
    chmod 0755 "$root/DEBIAN/$s"
  done
}

package_kubernetes() {
  local out=$1 work=$2
  local kv=${KUBERNETES_VERSION#v}-$KUBE_DEB_REVISION
  local node=$TOOLS_DIR/kube-node-$KUBERNETES_VERSION p=$SOURCES_SRC/packaging r
  mkdir -p "$out"
  rm -rf "$work" && mkdir -p "$work"

  r=$work/kubeadm
  install -D -m 0755 "$node/kubeadm" "$r/usr/bin/kubeadm"
  install -D -m 0644 "$p/10-kubeadm.conf" "$r/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
  # pkgs.k8s.io's kubeadm declares no dependency since 1.32 (it no longer runs crictl).
  make_deb "$out" "$r" kubeadm "$kv" "Command-line utility for administering a Kubernetes cluster" \
    "Homepage: https://kubernetes.io"

  r=$work/kubelet
  install -D -m 0755 "$node/kubelet" "$r/usr/bin/kubelet"
  install -D -m 0644 "$p/kubelet.service" "$r/usr/lib/systemd/system/kubelet.service"
  install -D -m 0644 "$p/kubelet.default" "$r/etc/default/kubelet"
  mkdir -p "$r/etc/kubernetes/manifests" "$r/var/lib/kubelet"
  touch "$r/etc/kubernetes/manifests/.kubelet-keep" "$r/var/lib/kubelet/.kubelet-keep"
  service_scripts "$r" kubelet.service
  echo /etc/default/kubelet >"$r/DEBIAN/conffiles"
  make_deb "$out" "$r" kubelet "$kv" "Node agent for Kubernetes clusters" \
    "Depends: iptables (>= 1.4.21), kubernetes-cni (>= 1.2.0), mount, util-linux" "Homepage: https://kubernetes.io"

  r=$work/kubectl
  install -D -m 0755 "$TOOLS_DIR/kubectl-$KUBERNETES_VERSION/kubectl" "$r/usr/bin/kubectl"
  make_deb "$out" "$r" kubectl "$kv" "Command-line utility for interacting with a Kubernetes cluster" \
    "Homepage: https://kubernetes.io"

  r=$work/cri-tools
  install -D -m 0755 "$TOOLS_DIR/crictl-$CRI_TOOLS_VERSION/crictl" "$r/usr/bin/crictl"
  make_deb "$out" "$r" cri-tools "${CRI_TOOLS_VERSION#v}-$KUBE_DEB_REVISION" \
    "Command-line utility for interacting with a container runtime" "Homepage: https://github.com/kubernetes-sigs/cri-tools"

  r=$work/kubernetes-cni
  mkdir -p "$r/opt/cni/bin" "$r/etc/cni/net.d"
  find "$TOOLS_DIR/cni-plugins-$CNI_PLUGINS_VERSION" -maxdepth 1 -type f ! -name .done -exec install -m 0755 -t "$r/opt/cni/bin" {} +
  touch "$r/etc/cni/net.d/.kubernetes-cni-keep"
  make_deb "$out" "$r" kubernetes-cni "${CNI_PLUGINS_VERSION#v}-$KUBE_DEB_REVISION" \
    "Binaries required to provision kubernetes container networking" "Homepage: https://www.cni.dev"
}

package_containerd() {
  local out=$1 work=$2 bin=$TOOLS_DIR/containerd-$CONTAINERD_VERSION p=$SOURCES_SRC/packaging r b
  mkdir -p "$out"
  r=$work/containerd.io
  rm -rf "$r"
  for b in containerd containerd-shim-runc-v2 ctr; do
    install -D -m 0755 "$bin/$b" "$r/usr/bin/$b"
  done
  install -D -m 0644 "$p/containerd.service" "$r/usr/lib/systemd/system/containerd.service"
  install -D -m 0644 "$p/containerd-config.toml" "$r/etc/containerd/config.toml"
  mkdir -p "$r/DEBIAN"
  echo /etc/containerd/config.toml >"$r/DEBIAN/conffiles"
  service_scripts "$r" containerd.service
  # Docker's package bundles runc; runc needs cgo and libseccomp, so this one depends on Debian's.
  make_deb "$out" "$r" containerd.io "${CONTAINERD_VERSION#v}-1" "An open and reliable container runtime" \
    "Depends: runc (>= 1.1.0)" "Provides: containerd" "Conflicts: containerd" "Replaces: containerd" \
    "Homepage: https://containerd.io"
}

# The Debian packages the repositories' packages need, with their dependencies resolved against an
# empty system (so everything down to libc6), at the versions this machine's apt offers.
mirror_debian() {
  local out=$1 list
  mkdir -p "$out"
  list=$(apt-get -s -o Dir::State::status=/dev/null install --no-install-recommends "${DEBIAN_MIRRORED[@]}" 2>>"$CURRENT_LOG" |
    awk '/^Inst /{print $2}')
  [[ -n $list ]] || die "apt-get could not resolve ${DEBIAN_MIRRORED[*]} (log: $CURRENT_LOG; run apt-get update?)"
  echo "+ apt-get download $list" >>"$CURRENT_LOG"
  # shellcheck disable=SC2086 # one package name per word
  (cd "$out" && apt-get download -q $list >>"$CURRENT_LOG" 2>&1) || die "apt-get download failed (log: $CURRENT_LOG)"
}

# kube-proxy's iptables: Debian's iptables and its libraries unpacked, with the links that
# update-alternatives would make (nft backend, Debian's default).
iptables_tree() {
  local debs=$1 root=$2 d t
  rm -rf "$root"
  mkdir -p "$root"
  for d in "$debs"/*.deb; do
    case ${d##*/} in runc_* | libseccomp2_*) continue ;; esac
    dpkg-deb -x "$d" "$root"
  done
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sfn "${t/iptables/iptables-nft}" "$root/usr/sbin/$t"
  done
  # bookworm's libraries unpack under /lib (merged-/usr is made at install, not in the .debs).
  [[ -e $root/sbin ]] || ln -sfn usr/sbin "$root/sbin"
  [[ -x $root/usr/sbin/xtables-nft-multi ]] || die "iptables tree: no xtables-nft-multi in $root"
}

# images_plan FILE: the images kubeadm asks for, as JSON for `sources images`.
images_plan() {
  local kv=$KUBERNETES_VERSION node=$TOOLS_DIR/kube-node-$KUBERNETES_VERSION iptables=$1
  local etcd_tag=${ETCD_IMAGE_VERSION#v}-0 bin flannel=$TOOLS_DIR/flannel-$FLANNEL_VERSION
  bin=$TOOLS_DIR/sources-bin-$(sources_src_hash)
  cat <<EOF
[
  {"ref": "kube-apiserver:$kv", "entrypoint": ["/usr/local/bin/kube-apiserver"],
   "files": [{"src": "$TOOLS_DIR/kube-apiserver-$kv/kube-apiserver", "dst": "/usr/local/bin/kube-apiserver"}]},
  {"ref": "kube-controller-manager:$kv", "entrypoint": ["/usr/local/bin/kube-controller-manager"],
   "files": [{"src": "$TOOLS_DIR/kube-controller-manager-$kv/kube-controller-manager", "dst": "/usr/local/bin/kube-controller-manager"}]},
  {"ref": "kube-scheduler:$kv", "entrypoint": ["/usr/local/bin/kube-scheduler"],
   "files": [{"src": "$TOOLS_DIR/kube-scheduler-$kv/kube-scheduler", "dst": "/usr/local/bin/kube-scheduler"}]},
  {"ref": "kube-proxy:$kv", "entrypoint": ["/usr/local/bin/kube-proxy"], "layerDirs": ["$iptables"],
   "files": [{"src": "$node/kube-proxy", "dst": "/usr/local/bin/kube-proxy"}]},
  {"ref": "etcd:$etcd_tag", "entrypoint": ["/usr/local/bin/etcd"], "ports": ["2379/tcp", "2380/tcp"],
   "files": [{"src": "$TOOLS_DIR/etcd-image-$ETCD_IMAGE_VERSION/etcd", "dst": "/usr/local/bin/etcd"},
             {"src": "$TOOLS_DIR/etcd-image-$ETCD_IMAGE_VERSION/etcdctl", "dst": "/usr/local/bin/etcdctl"}]},
  {"ref": "coredns:$COREDNS_VERSION", "entrypoint": ["/coredns"], "user": "65532:65532", "ports": ["53/tcp", "53/udp"],
   "files": [{"src": "$TOOLS_DIR/coredns-$(coredns_key)/coredns", "dst": "/coredns"}]},
  {"ref": "pause:$PAUSE_VERSION", "entrypoint": ["/pause"], "user": "65535:65535",
   "files": [{"src": "$bin/pause", "dst": "/pause"}]},
  {"ref": "flannel-io/flannel:$FLANNEL_VERSION", "entrypoint": ["/opt/bin/flanneld"], "layerDirs": ["$iptables"],
   "files": [{"src": "$flannel/flanneld", "dst": "/opt/bin/flanneld"},
             {"src": "$flannel/install-conf", "dst": "/opt/bin/install-conf"}]},
  {"ref": "flannel-io/flannel-cni-plugin:$FLANNEL_CNI_PLUGIN_VERSION", "entrypoint": ["/bin/cp"],
   "files": [{"src": "$TOOLS_DIR/flannel-cni-plugin-$FLANNEL_CNI_PLUGIN_VERSION/flannel", "dst": "/flannel"},
             {"src": "$bin/cp", "dst": "/bin/cp"}]},
  {"ref": "istio/pilot:$ISTIO_CHART_VERSION", "entrypoint": ["/usr/local/bin/pilot-discovery"], "user": "1337:1337",
   "files": [{"src": "$TOOLS_DIR/pilot-discovery-$ISTIO_MODULE_VERSION/pilot-discovery", "dst": "/usr/local/bin/pilot-discovery"}]},
  {"ref": "lab/netcheck:v1", "entrypoint": ["/netcheck"], "user": "65532:65532", "ports": ["8080/tcp"],
   "files": [{"src": "$bin/netcheck", "dst": "/netcheck"}]}
]
EOF
}

# dpkg-scanpackages prints to stdout; Packages.gz beside it.
index_packages() {
  local repo=$1 pool=$2 dest=$3
  mkdir -p "$(dirname "$repo/$dest")"
  (cd "$repo" && dpkg-scanpackages --multiversion "$pool" /dev/null 2>>"$CURRENT_LOG" >"$dest") ||
    die "dpkg-scanpackages failed in $repo (log: $CURRENT_LOG)"
  gzip -9nkf "$repo/$dest"
}

assemble_sources() {
  local dir tmp start=$SECONDS
  dir=$(sources_dir)
  if [[ -f $dir/.done ]]; then
    log "sources ${dir##*/sources-}: cached ($dir)"
    return 0
  fi
  command -v dpkg-scanpackages >/dev/null 2>&1 || die "dpkg-scanpackages not found (Debian package dpkg-dev)"
  CURRENT_LOG=$LOG_DIR/sources.log
  : >"$CURRENT_LOG"
  tmp=$dir.partial.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  log "sources ${dir##*/sources-}: packaging and assembling images (~1-2 min; log: $CURRENT_LOG)..."
  local work=$BUILD_DIR/sources-work
  rm -rf "$work"
  mkdir -p "$work"

  package_kubernetes "$tmp/kubernetes" "$work/kubernetes"
  index_packages "$tmp/kubernetes" . Packages
  package_containerd "$tmp/docker/pool/stable/c/containerd.io" "$work/docker"
  index_packages "$tmp/docker" pool dists/bookworm/stable/binary-amd64/Packages
  mirror_debian "$tmp/debian/pool/main"
  index_packages "$tmp/debian" pool dists/bookworm/main/binary-amd64/Packages
  log "sources: packages done ($((SECONDS - start))s)"

  iptables_tree "$tmp/debian/pool/main" "$work/iptables"
  images_plan "$work/iptables" >"$work/images.json"
  local bin
  bin=$TOOLS_DIR/sources-bin-$(sources_src_hash)
  run_go "images" "$bin/sources" images --plan "$work/images.json" --out "$tmp/images"
  cp "$bin/sources" "$TOOLS_DIR/kube-node-$KUBERNETES_VERSION/kubeadm" "$tmp/bin/"
  date -u +%FT%TZ >"$tmp/.done"
  rm -rf "$dir"
  mv -fT "$tmp" "$dir"
  rm -rf "$work"
  # Folders of older inputs are of no further use.
  find "$TOOLS_DIR" -maxdepth 1 -name 'sources-*' ! -name 'sources-bin-*' ! -name "${dir##*/}" -exec rm -rf {} +
  log "sources ${dir##*/sources-}: done in $((SECONDS - start))s ($(du -sm "$dir" | cut -f1) MB, $dir)"
}

build_sources() {
  want sources || return 0
  build_artifact kube-node "$KUBERNETES_VERSION" "kubeadm, kubelet, kube-proxy: ~5 min after kube-apiserver" build_kube_node
  # kubectl and the control-plane images' binaries are toolchain tools of their own.
  local t
  for t in kubectl kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -x $TOOLS_DIR/$t-$KUBERNETES_VERSION/$t ]] || die "sources need $t $KUBERNETES_VERSION: run $0 --only $t sources"
  done
  # istiod's image (istio/pilot) is the local cluster's pilot-discovery build.
  [[ -x $TOOLS_DIR/pilot-discovery-$ISTIO_MODULE_VERSION/pilot-discovery ]] ||
    die "sources need pilot-discovery $ISTIO_MODULE_VERSION: run $0 --only pilot-discovery sources"
  build_artifact crictl "$CRI_TOOLS_VERSION" "cold builds take ~1-2 min" build_crictl
  build_artifact cni-plugins "$CNI_PLUGINS_VERSION" "cold builds take ~2 min" build_cni_plugins
  build_artifact containerd "$CONTAINERD_VERSION" "cold builds take ~3 min" build_containerd
  build_artifact coredns "$(coredns_key)" "cold builds take ~3 min" build_coredns
  build_artifact etcd-image "$ETCD_IMAGE_VERSION" "cold builds take ~1-2 min" build_etcd_image_bin
  build_artifact flannel "$FLANNEL_VERSION" "cold builds take ~2-3 min" build_flannel
  build_artifact flannel-cni-plugin "$FLANNEL_CNI_PLUGIN_VERSION" "cold builds take ~1 min" build_flannel_cni_plugin
  build_artifact sources-bin "$(sources_src_hash)" "seconds warm" build_sources_bin
  assemble_sources
}
