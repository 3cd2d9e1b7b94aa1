#!/usr/bin/env bash
# The test hosts' local sources: apt repositories (Kubernetes, Docker-style containerd.io, Debian
# dependencies) on :8080 and an OCI registry on :5000, built by scripts/toolchain.sh --only sources.
# The work is done by tests/rig/sources.ts; this is its entry.
#
#   scripts/sources.sh start  [--dir DIR] [--listen ADDR] [--http-port 8080] [--registry-port 5000]
#   scripts/sources.sh stop   [--dir DIR]
#   scripts/sources.sh status [--dir DIR]
#
# Defaults: listen on 10.213.0.1 (the hosts' bridge: start the hosts first), run folder
# $LAB_SOURCES_DIR or /tmp/kubeadm-istio-lab-sources (signing key, Release files, log, sources.json).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

case ${1:-} in
  start | stop | status) ;;
  *)
    sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

[[ -d node_modules/ts-node ]] || npm ci --ignore-scripts --no-audit --no-fund
exec npx ts-node --transpile-only tests/rig/sources.ts "$@"
