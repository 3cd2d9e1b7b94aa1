#!/usr/bin/env bash
# Debian bookworm test hosts on this machine (systemd-nspawn, one network namespace each, on a bridge
# of their own that reaches nothing else). The work is done by tests/rig/hosts.ts; this is its entry.
#
#   scripts/hosts.sh start  [--dir DIR] [--names a,b,c | --count N] [--subnet CIDR] [--prefix P]
#   scripts/hosts.sh stop   [--dir DIR]   (default: $LAB_HOSTS_DIR)
#   scripts/hosts.sh status [--dir DIR]
#   scripts/hosts.sh rootfs               build or find the cached rootfs ($LAB_CACHE/rootfs)
#
# Defaults: hosts nieve, sansa, arya at 10.213.0.10-12, bridge lab-hosts at 10.213.0.1, user debian.
# start writes DIR/hosts.json (names, addresses, ssh port, user, key, known_hosts: tests/rig/state.ts)
# and DIR/ssh/config (ssh -F DIR/ssh/config nieve). Needs root: re-runs itself with sudo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

case ${1:-} in
  start | stop | status | rootfs) ;;
  *)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

# The rootfs cache stays the caller's (under sudo, HOME would be root's).
export LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
if [[ $(id -u) != 0 ]]; then
  exec sudo env LAB_CACHE="$LAB_CACHE" LAB_HOSTS_DIR="${LAB_HOSTS_DIR:-}" PATH="$PATH" bash "$0" "$@"
fi

printf '[hosts] %s %s\n' "$(date +%H:%M:%S)" "$1"
[[ -d node_modules/ts-node ]] || npm ci --ignore-scripts --no-audit --no-fund
exec npx ts-node --transpile-only tests/rig/hosts.ts "$@"
