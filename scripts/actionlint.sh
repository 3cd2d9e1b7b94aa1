#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint, built from its Go
# module (github.com/rhysd/actionlint, package cmd/actionlint) into the lab cache like the rest of
# the toolchain. The build is skipped when the pinned version is already there.
#
# Output binary: ${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}/tools/actionlint-<version>/actionlint,
# linked from $LAB_CACHE/bin/actionlint.
#
# Usage: scripts/actionlint.sh [--build-only] [FILE...]
#   no FILE: every .github/workflows/*.yml and *.yaml. Exit status: actionlint's (non-zero on findings).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=versions.env disable=SC1091
source "$SCRIPT_DIR/versions.env"

LAB_CACHE=${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}
DIR=$LAB_CACHE/tools/actionlint-$ACTIONLINT_VERSION
BIN=$DIR/actionlint
LOG=$LAB_CACHE/logs/actionlint-$ACTIONLINT_VERSION.log

log() { printf '[actionlint] %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

BUILD_ONLY=false
if [[ ${1:-} == --build-only ]]; then
  BUILD_ONLY=true
  shift
fi

if [[ ! -x $BIN ]]; then
  command -v go >/dev/null 2>&1 || {
    log "go not found on PATH (expected Go 1.26 at /usr/local/go/bin)"
    exit 1
  }
  mkdir -p "$DIR" "$LAB_CACHE/logs" "$LAB_CACHE/bin"
  log "building github.com/rhysd/actionlint $ACTIONLINT_VERSION (log: $LOG)..."
  tmp=$(mktemp -d "$DIR/.gobin.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  if ! GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$tmp GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    log "build failed; versions the module proxy served: grep rhysd/actionlint /work/.library/env/packages/go-partial.tsv"
    exit 1
  fi
  mv -f "$tmp/actionlint" "$BIN"
  log "built $BIN"
fi
ln -sfn "$BIN" "$LAB_CACHE/bin/actionlint.tmp"
mv -fT "$LAB_CACHE/bin/actionlint.tmp" "$LAB_CACHE/bin/actionlint"

if $BUILD_ONLY; then
  echo "$BIN"
  exit 0
fi

cd "$REPO_ROOT"
if (($# == 0)); then
  shopt -s nullglob
  set -- .github/workflows/*.yml .github/workflows/*.yaml
  if (($# == 0)); then
    log "no workflows in .github/workflows"
    exit 0
  fi
fi
# actionlint also checks run: scripts with shellcheck when it is on PATH (toolchain.sh installs it).
exec "$BIN" -no-color "$@"
