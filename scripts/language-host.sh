#!/usr/bin/env bash
# Launcher of the Node.js language host that scripts/toolchain.sh builds (v3.68.0, the last one the
# module proxy serves). That host reads its runtime options (Pulumi.yaml `runtime.options`: typescript,
# nodeargs, tsconfig) from command-line flags, as the CLIs of its time passed them; today's CLI sends
# them over gRPC in a field v3.68 does not know, so without this launcher every option is silently
# dropped. The launcher reads them from the project's Pulumi.yaml (the CLI starts the host in the
# project's folder) and passes them as those flags. toolchain.sh installs it beside the host binary.
set -euo pipefail

host="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/pulumi-language-nodejs"

project=
for f in Pulumi.yaml Pulumi.yml; do
  [[ -f $f ]] && project=$f && break
done

flags=()
if [[ -n $project ]]; then
  # key=value for each scalar under runtime: -> options: (block style, as `pulumi new` and the yaml
  # package write it); quotes and trailing comments removed.
  while IFS= read -r line; do
    key=${line%%=*}
    value=${line#*=}
    case $key in
      typescript) flags+=("-typescript=$value") ;;
      nodeargs) flags+=("-nodeargs=$value") ;;
      tsconfig) flags+=("-tsconfig=$value") ;;
    esac
  done < <(awk '
    /^[^[:space:]#]/ { inrt = ($0 ~ /^runtime:[[:space:]]*(#.*)?$/); inopt = 0; next }
    /^[[:space:]]*(#.*)?$/ { next }
    inrt && !inopt && /^[[:space:]]+options:[[:space:]]*(#.*)?$/ { inopt = 1; match($0, /^[[:space:]]+/); depth = RLENGTH; next }
    inrt && inopt {
      match($0, /^[[:space:]]+/)
      if (RLENGTH <= depth) { inopt = 0; next }
      line = substr($0, RLENGTH + 1)
      key = line; sub(/:.*/, "", key)
      value = line; sub(/^[^:]*:[[:space:]]*/, "", value)
      if (value ~ /^"/) { sub(/^"/, "", value); sub(/"[[:space:]]*(#.*)?$/, "", value) }
      else if (value ~ /^\047/) { sub(/^\047/, "", value); sub(/\047[[:space:]]*(#.*)?$/, "", value) }
      else { sub(/[[:space:]]+#.*$/, "", value); sub(/[[:space:]]+$/, "", value) }
      print key "=" value
    }
  ' "$project")
fi

exec "$host" "${flags[@]}" "$@"
