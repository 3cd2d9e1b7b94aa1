// Remote shell scripts, one per provisioning step (as kubespray cuts them). Each is a complete bash
// script over typed inputs, idempotent (a second run changes nothing), and shellchecked in the tests.
// Secrets (bootstrap token, CA hash) never appear in a script's text: the scripts read
// them from stdin, which the caller fills from Pulumi secrets. A failed command's error quotes its
// script, and the node's process list shows arguments: neither may hold a secret.
// Config values are data: each one is single-quoted where bash reads it (most into a variable first,
// then used as "$variable"), and written into the files the scripts make in that file's own quoting.
import type { AptSource, SourcesSpec } from "../config/schema";
import {
  apiServerHardening,
  AUDIT_LOG_DIR,
  AUDIT_POLICY_DIR,
  AUDIT_POLICY_FILE,
  auditPolicy,
  ENCRYPTION_CONFIG_FILE,
  ENCRYPTION_DIR,
  ENCRYPTION_KEY_PATTERN,
  encryptionConfiguration,
  toYaml,
} from "./apiServer";
import { shQuote, tomlString, yamlString } from "./quote";

function script(step: string, body: string): string {
  // The title is a comment, which no quoting reaches: a line break would end it and start a command.
  if (/[\x00-\x1f\x7f]/.test(step)) throw new Error(`script title holds a control character: ${JSON.stringify(step)}`);
  return `#!/usr/bin/env bash
# kubeadm-istio-lab: ${step}
set -euo pipefail
# The SSH user is not root on most machines (nodes[].user): the step runs again under passwordless sudo,
# with root's PATH (/usr/sbin: swapoff, sysctl) and the same stdin (the secrets).
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "user $(id -un) on $(hostname) is not root and has no passwordless sudo; the node's user needs one of them (nodes[].user)" >&2
    exit 1
  fi
  exec sudo -n bash -c "$BASH_EXECUTION_STRING"
fi
export DEBIAN_FRONTEND=noninteractive
${body.trim()}
`;
}

/** What the host preparation depends on. */
export interface HostParams {
  /** Kubernetes minor, e.g. "1.36". */
  kubernetesVersion: string;
  /** cluster.allowCgroupV1: accept a machine still on cgroup v1. */
  allowCgroupV1: boolean;
}

/** kubelet 1.35 and later refuses to start on cgroup v1 unless told otherwise (KEP-5573). */
function refusesCgroupV1(minor: string): boolean {
  return Number(minor.split(".")[1]) >= 35;
}

/** True when bash runs on a machine whose /sys/fs/cgroup is not the cgroup v2 hierarchy. */
const ON_CGROUP_V1 = `[ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]`;

function cgroupCheck(p: HostParams): string {
  if (!refusesCgroupV1(p.kubernetesVersion)) return "";
  const verdict = p.allowCgroupV1
    ? `echo "cgroup v1 on this machine: allowed by cluster.allowCgroupV1 (kubelet's failCgroupV1 is off)"`
    : `echo ${shQuote(`this machine uses cgroup v1, which kubelet ${p.kubernetesVersion} refuses by default; boot it with cgroup v2 (Debian 11 and later do unless systemd.unified_cgroup_hierarchy=0 is on the kernel command line) or set kubeadm-istio-lab:cluster.allowCgroupV1: true`)} >&2
  exit 1`;
  return `# Checked first, before this script changes anything.
if ${ON_CGROUP_V1}; then
  ${verdict}
fi
`;
}

/** Swap off for good, kernel modules and sysctls kubelet and the CNI need. */
export function prepareHostScript(p: HostParams): string {
  return script(
    "prepare host",
    `
${cgroupCheck(p)}
# kubelet refuses to start with swap on; comment swap out of fstab so it stays off after a reboot.
swapoff -a
if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then
  sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# \\1/' /etc/fstab
fi

cat > /etc/modules-load.d/kubernetes.conf <<'EOF'
overlay
br_netfilter
EOF
# Cloud images and container hosts have these built into the kernel, with no module to load.
for module in overlay br_netfilter; do
  if modprobe "$module" 2>/dev/null; then continue; fi
  if [ -d "/sys/module/$module" ] || grep -qw "$module" /proc/filesystems || { [ "$module" = br_netfilter ] && [ -d /proc/sys/net/bridge ]; }; then
    echo "kernel module $module: built into the kernel"
  else
    echo "cannot load kernel module $module and the kernel does not have it built in" >&2
    exit 1
  fi
done

cat > /etc/sysctl.d/99-kubernetes.conf <<'EOF'
net.bridge.bridge-nf-call-iptables  = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward                 = 1
EOF
# Only this file: others (systemd's kernel.* defaults) may be read-only on a container host.
sysctl --quiet -p /etc/sysctl.d/99-kubernetes.conf

if ! dpkg -s ca-certificates curl gpg >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q ca-certificates curl gpg
fi
`,
  );
}

/** Registry host → mirror, as containerd's hosts.toml: the registry's own server stays the fallback. */
export function registryHostsToml(registry: string, mirror: string): string {
  // Docker Hub's API is not at docker.io itself.
  const server = registry === "docker.io" ? "https://registry-1.docker.io" : `https://${registry}`;
  return `# managed by kubeadm-istio-lab (sources.registryMirrors)
server = ${tomlString(server)}

[host.${tomlString(mirror)}]
  capabilities = ["pull", "resolve"]
`;
}

/**
 * Sets $repo to the `deb` line of an apt source, its parts quoted one by one; a suite of undefined
 * means the machine's own codename ($codename), a suite of "/" a flat repository (no component).
 */
function debLine(source: AptSource): string {
  const flat = source.suite === "/";
  return [
    `repo_url=${shQuote(source.url)}`,
    `repo_suite=${source.suite === undefined ? '"$codename"' : shQuote(source.suite)}`,
    ...(flat ? [] : [`repo_component=${shQuote(source.component ?? "main")}`]),
    `repo="deb [arch=$(dpkg --print-architecture) signed-by=$keyring] $repo_url $repo_suite${flat ? "" : " $repo_component"}"`,
  ].join("\n");
}

/**
 * Points apt at one repository: fetches its signing key, checks it, and writes the keyring and the list
 * file, only when the list file (the apt line, and a comment naming the key's URL and fingerprint) would
 * change, so a second run neither downloads nor touches anything, and a new URL or pinned fingerprint
 * fetches and checks the key again. A key that is not the pinned one stops the step before apt is
 * pointed at the repository. apt gets the pinned key alone, in binary form, whatever else the file held
 * (armored or binary, one key or several).
 */
function aptSourceBlock(name: "containerd" | "kubernetes", source: AptSource): string {
  const pinKey = `kubeadm-istio-lab:sources.${name}.keyFingerprint`;
  return `
keyring=/etc/apt/keyrings/${name}.gpg
key_url=${shQuote(source.keyUrl)}
key_fingerprint=${shQuote(source.keyFingerprint ?? "")}
list=/etc/apt/sources.list.d/${name}.list
${debLine(source)}
list_text="# kubeadm-istio-lab: signed by \${key_fingerprint:-the key first downloaded} from $key_url
$repo"
if [ "$(cat "$list" 2>/dev/null)" != "$list_text" ] || [ ! -s "$keyring" ]; then
  # gpg works in a folder of its own: root's ~/.gnupg and the node's keyrings stay untouched until the key passed.
  work=$(mktemp -d)
  trap 'gpgconf --homedir "$work" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  if ! curl -fsSL --retry 3 "$key_url" -o "$work/key"; then
    echo "cannot download the signing key of the ${name} packages from $key_url (sources.${name}.keyUrl)" >&2
    exit 1
  fi
  # The primary keys' fingerprints: the fpr record right after each pub record (subkeys sign for their primary).
  found=$(gpg --homedir "$work" --batch --with-colons --show-keys "$work/key" 2>/dev/null \\
    | awk -F: '$1 == "pub" { primary = 1; next } $1 == "fpr" && primary { printf "%s%s", sep, $10; sep = ", " } { primary = 0 }' || true)
  if [ -z "$found" ]; then
    echo "the file at $key_url (sources.${name}.keyUrl) holds no OpenPGP public key; apt was not pointed at the repository and nothing was installed from it" >&2
    exit 1
  fi
  if [ -n "$key_fingerprint" ] && [[ ", $found, " != *", $key_fingerprint, "* ]]; then
    echo "${pinKey}: the signing key from $key_url is not the pinned one: pinned $key_fingerprint, found $found; apt was not pointed at the repository and nothing was installed from it" >&2
    exit 1
  fi
  if ! imported=$(gpg --homedir "$work" --batch --import "$work/key" 2>&1); then
    echo "gpg could not import the signing key from $key_url (sources.${name}.keyUrl): $imported" >&2
    exit 1
  fi
  if [ -n "$key_fingerprint" ]; then
    gpg --homedir "$work" --batch --export "$key_fingerprint" > "$work/keyring"
  else
    echo "trusting the signing key from $key_url as first downloaded ($found): ${pinKey} is not set"
    gpg --homedir "$work" --batch --export > "$work/keyring"
  fi
  install -m 0644 "$work/keyring" "$keyring"
  printf '%s\\n' "$list_text" > "$list"
  apt-get update -q
fi
`;
}

/** $codename: the machine's Debian release, the suite of a source that names none. */
const MACHINE_CODENAME = `# shellcheck source=/dev/null
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")`;

/**
 * containerd from its apt repository (Docker's, the one the seed adds, unless sources.containerd says
 * otherwise), with a full default config and the systemd cgroup driver: packaged configs can disable
 * the CRI plugin, and kubeadm then fails. Registry mirrors go to /etc/containerd/certs.d. The sandbox
 * (pause) image is the one the installed kubeadm pulls, so this step runs after the kube packages:
 * containerd's own default tag lags kubeadm's and is not in an offline registry.
 */
export function containerRuntimeScript(sources: Pick<SourcesSpec, "containerd" | "imageRepository" | "registryMirrors">): string {
  const { containerd, imageRepository, registryMirrors } = sources;
  const mirrors = Object.entries(registryMirrors)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([registry, mirror]) => `mkdir -p /etc/containerd/certs.d/${shQuote(registry)}
wanted_hosts=${shQuote(registryHostsToml(registry, mirror))}
if [ "$(cat /etc/containerd/certs.d/${shQuote(registry)}/hosts.toml 2>/dev/null)" != "$wanted_hosts" ]; then
  printf '%s\\n' "$wanted_hosts" > /etc/containerd/certs.d/${shQuote(registry)}/hosts.toml
fi
keep+=(${shQuote(registry)})`,
    )
    .join("\n");
  return script(
    "container runtime (containerd)",
    `
install -m 0755 -d /etc/apt/keyrings
${containerd.suite === undefined ? `${MACHINE_CODENAME}\n` : ""}${aptSourceBlock("containerd", containerd).trim()}
package=${shQuote(containerd.package)}
if ! dpkg -s "$package" >/dev/null 2>&1; then
  apt-get install -y -q "$package"
fi

mkdir -p /etc/containerd/certs.d
# Registry mirrors (sources.registryMirrors); hosts files this program wrote earlier and no longer wants go.
keep=()
${mirrors}
for dir in /etc/containerd/certs.d/*/; do
  [ -f "$dir/hosts.toml" ] || continue
  grep -q '^# managed by kubeadm-istio-lab' "$dir/hosts.toml" || continue
  registry=$(basename "$dir")
  if [[ " \${keep[*]} " != *" $registry "* ]]; then rm -rf "$dir"; fi
done

if ! command -v kubeadm >/dev/null 2>&1; then
  echo "kubeadm is not installed; the kube packages step runs before this one" >&2
  exit 1
fi
image_repository=${shQuote(imageRepository)}
pause=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" --image-repository "$image_repository" 2>/dev/null | grep '/pause:' || true)
if [ -z "$pause" ]; then
  echo "kubeadm $(kubeadm version -o short) lists no pause image for $image_repository (sources.imageRepository)" >&2
  exit 1
fi
# Without CAP_SYS_RESOURCE (a machine that is itself a container: LXC, nspawn) no process may lower an
# OOM score, and every pod sandbox would fail on kubelet's negative one; containerd then caps pods' scores
# at its own instead.
restrict_oom=false
if (( ! ($(printf '%d' "0x$(awk '/^CapEff:/ {print $2}' /proc/self/status)") >> 24 & 1) )); then
  restrict_oom=true
  echo "no CAP_SYS_RESOURCE on this machine: pods' OOM scores are capped at containerd's (restrict_oom_score_adj)"
fi
# containerd 1.x writes double quotes and sandbox_image, 2.x single quotes and sandbox.
wanted=$(containerd config default \\
  | sed -E 's/SystemdCgroup = false/SystemdCgroup = true/' \\
  | sed -E "s/restrict_oom_score_adj = false/restrict_oom_score_adj = $restrict_oom/" \\
  | sed -E "s#config_path = (''|\\"\\")#config_path = \\"/etc/containerd/certs.d\\"#" \\
  | sed -E "s#^([[:space:]]*sandbox(_image)? = ).*#\\1\\"$pause\\"#")
for setting in 'SystemdCgroup = true' "restrict_oom_score_adj = $restrict_oom" 'config_path = "/etc/containerd/certs.d"' "= \\"$pause\\""; do
  if ! grep -qF "$setting" <<<"$wanted"; then
    echo "containerd's default config has no place for: $setting (containerd $(containerd --version))" >&2
    exit 1
  fi
done
if [ "$(cat /etc/containerd/config.toml 2>/dev/null)" != "$wanted" ]; then
  printf '%s\\n' "$wanted" > /etc/containerd/config.toml
  systemctl restart containerd
fi
systemctl enable --now containerd
`,
  );
}

/** kubeadm, kubelet and kubectl for one minor version (pkgs.k8s.io or a mirror of it), held against upgrades. */
export function kubePackagesScript(minor: string, source: AptSource): string {
  return script(
    `kubeadm, kubelet, kubectl ${minor}`,
    `
install -m 0755 -d /etc/apt/keyrings
minor=${shQuote(minor)}
${aptSourceBlock("kubernetes", source).trim()}
installed=$(dpkg-query -W -f='\${Version}' kubeadm 2>/dev/null || true)
if [[ "$installed" != "$minor".* ]]; then
  apt-mark unhold kubelet kubeadm kubectl >/dev/null 2>&1 || true
  apt-get install -y -q "kubelet=$minor.*" "kubeadm=$minor.*" "kubectl=$minor.*"
fi
apt-mark hold kubelet kubeadm kubectl >/dev/null
systemctl enable kubelet
`,
  );
}

export interface InitParams {
  nodeName: string;
  advertiseAddress: string;
  apiServerPort: number;
  podCidr: string;
  serviceCidr: string;
  /** kubeadm's imageRepository (sources.imageRepository). */
  imageRepository: string;
  /** cluster.allowCgroupV1 */
  allowCgroupV1: boolean;
  /** cluster.kubeProxyConntrackMaxPerCore; unset: kube-proxy's default. */
  kubeProxyConntrackMaxPerCore?: number;
}

/** host:port, with an IPv6 address in brackets as URLs and kubeadm endpoints want it. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Replaced in the init config by the version of the kubeadm installed on the node. */
export const KUBEADM_VERSION_PLACEHOLDER = "KUBEADM_INSTALLED_VERSION";

/**
 * The secrets the init step reads from stdin, one per line. No certificate key: with one control plane
 * nothing joins as a control plane, so the cluster's CA and etcd keys are never uploaded for one to fetch
 * (`--upload-certs` would keep them in a Secret, readable for two hours with the token and that key).
 */
export interface InitSecrets {
  /** kubeadm bootstrap token, "[a-z0-9]{6}.[a-z0-9]{16}". */
  token: string;
  /** The key Secrets are encrypted with in etcd: 32 bytes, base64 (encryptionKeyFromPassword). */
  encryptionKey: string;
}

/** stdin of the init command (secret). */
export function initStdin(s: InitSecrets): string {
  return `${s.token}\n${s.encryptionKey}\n`;
}

const TOKEN_SLOT = "@BOOTSTRAP_TOKEN@";
const CA_HASH_SLOT = "@CA_CERT_HASH@";
const ENCRYPTION_KEY_SLOT = "@ENCRYPTION_KEY@";

/** A secret line of stdin: the variable bash reads it into, its format, and the config slot it fills, if any. */
interface SecretLine {
  name: string;
  slot?: string;
  pattern: string;
  what: string;
}

/** Reads secret lines from stdin into variables, each checked against its format (never echoed). */
function readSecrets(vars: SecretLine[]): string {
  return vars
    .map(
      (v, i) => `IFS= read -r ${v.name} || true
if ! [[ $${v.name} =~ ${v.pattern} ]]; then
  echo "stdin: expected ${v.what} on line ${i + 1}" >&2
  exit 1
fi`,
    )
    .join("\n");
}

/**
 * The kubeadm configuration for `kubeadm init` (v1beta4, Kubernetes 1.31 and later). The secrets are
 * slots that the script fills from stdin, unless given.
 */
export function kubeadmInitConfig(p: InitParams, secrets: Pick<InitSecrets, "token"> = { token: TOKEN_SLOT }): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: ${yamlString(secrets.token)}
    description: kubeadm-istio-lab init (deleted once init is done; each join has a token of its own)
    ttl: ${INIT_TOKEN_TTL}
localAPIEndpoint:
  advertiseAddress: ${yamlString(p.advertiseAddress)}
  bindPort: ${p.apiServerPort}
nodeRegistration:
  name: ${yamlString(p.nodeName)}
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
# The installed kubeadm's own version: without one kubeadm asks dl.k8s.io, which offline machines lack.
kubernetesVersion: ${KUBEADM_VERSION_PLACEHOLDER}
controlPlaneEndpoint: ${yamlString(hostPort(p.advertiseAddress, p.apiServerPort))}
imageRepository: ${yamlString(p.imageRepository)}
networking:
  podSubnet: ${yamlString(p.podCidr)}
  serviceSubnet: ${yamlString(p.serviceCidr)}
# Secrets encrypted at rest and the audit log (specs/apiServer.ts): the init step writes the files first.
${toYaml({ apiServer: apiServerHardening() }).trim()}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
${p.allowCgroupV1 ? "# cluster.allowCgroupV1: kubelet 1.35+ would refuse a cgroup v1 machine. Joined nodes get this too.\nfailCgroupV1: false\n" : ""}${kubeProxyConfig(p)}`;
}

/** kube-proxy's configuration, only when a setting differs from its defaults. */
function kubeProxyConfig(p: InitParams): string {
  if (p.kubeProxyConntrackMaxPerCore === undefined) return "";
  return `---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
# cluster.kubeProxyConntrackMaxPerCore (0: the kernel's nf_conntrack_max is left as it is).
conntrack:
  maxPerCore: ${p.kubeProxyConntrackMaxPerCore}
`;
}

/** kubeadm's flag for a cgroup v1 machine the user allowed: its SystemVerification check then only warns. */
function preflightFlag(allowCgroupV1: boolean): string {
  return allowCgroupV1 ? `\nignore=()\nif ${ON_CGROUP_V1}; then ignore=(--ignore-preflight-errors=SystemVerification); fi` : "";
}

/** kubeadm init makes a token whatever the config says (24 h unless given): ours lives minutes and is deleted at once. */
const INIT_TOKEN_TTL = "15m0s";
/** Long enough for a join that waits for its packages; the token is deleted as soon as the join is done. */
export const JOIN_TOKEN_TTL = "1h0m0s";

const TOKEN_LINE: SecretLine = { name: "token", slot: TOKEN_SLOT, pattern: "^[a-z0-9]{6}\\.[a-z0-9]{16}$", what: "the bootstrap token" };
const ENCRYPTION_KEY_LINE: SecretLine = { name: "encryption_key", pattern: ENCRYPTION_KEY_PATTERN, what: "the encryption key (32 bytes, base64)" };

/** Where the node remembers which kubeadm steps this program started and finished (tests point it elsewhere). */
const MARKS_DIR = '${KUBEADM_ISTIO_LAB_MARKS:-/var/lib/kubeadm-istio-lab}';

/**
 * One kubeadm step that runs once: its secrets are read from stdin, checked, and filled into the
 * config's slots by bash itself, so no secret is ever on a command line. A step this program finished
 * is skipped; one it started and did not finish (a failed `up`) is reset and run again, so retrying
 * `up` works; kubeadm state it did not make (`doneFile` from an earlier version or by hand) is adopted
 * when `liveCheck` passes and refused otherwise, never reset.
 */
function kubeadmStep(step: {
  mark: string;
  title: string;
  doneFile: string;
  doneMessage: string;
  /** Succeeds when the existing kubeadm state is a live cluster member. */
  liveCheck: string;
  secrets: SecretLine[];
  config: string;
  /** More slots, filled from a shell expression: [slot, expression]. */
  fillFrom?: [string, string][];
  /** Variables the step's other snippets use, set first. */
  paths?: string;
  /** Run on a finished step, before it says so (it reads no stdin: a re-run by hand has none). */
  whenDone?: string;
  /** Run once the secrets are read, before the step is marked started and the command runs. */
  prepare?: string;
  command: string;
}): string {
  const fill = [...step.secrets.flatMap((v): [string, string][] => (v.slot === undefined ? [] : [[v.slot, `$${v.name}`]])), ...(step.fillFrom ?? [])]
    .map(([slot, value]) => `template=\${template//${slot}/${value}}`)
    .join("\n");
  return script(
    step.title,
    `
marks=${MARKS_DIR}
${step.paths === undefined ? "" : `${step.paths.trim()}\n`}if [ -f "$marks/${step.mark}.done" ]; then
${step.whenDone === undefined ? "" : `${step.whenDone.replace(/^\n+|\s+$/g, "")}\n`}  echo ${shQuote(step.doneMessage)}
  exit 0
fi
${readSecrets(step.secrets)}
if [ -f "$marks/${step.mark}.started" ]; then
  echo ${shQuote(`an earlier ${step.title} on this machine did not finish: kubeadm reset, then again`)}
  kubeadm reset --force
  rm -rf /etc/cni/net.d
elif [ -f ${step.doneFile} ]; then
  if ${step.liveCheck}; then
    mkdir -p "$marks" && touch "$marks/${step.mark}.done"
    echo ${shQuote(`${step.doneMessage} (${step.doneFile} made by an earlier run or by hand)`)}
    exit 0
  fi
  echo ${shQuote(`${step.doneFile} exists but its cluster does not answer; this program did not make it and will not reset it: run kubeadm reset --force on this machine, then up again`)} >&2
  exit 1
fi
config=$(mktemp)
trap 'rm -f "$config"' EXIT
chmod 600 "$config"
template=$(cat <<'EOF'
${step.config.trim()}
EOF
)
${fill}
printf '%s\\n' "$template" > "$config"
${step.prepare === undefined ? "" : `${step.prepare.trim()}\n`}mkdir -p "$marks" && touch "$marks/${step.mark}.started"
${step.command}
touch "$marks/${step.mark}.done" && rm -f "$marks/${step.mark}.started"
`,
  );
}

/**
 * Where the init step writes the API server's files. KUBEADM_ISTIO_LAB_ROOT moves them under another
 * folder for the unit tests; kubeadm's config names the real paths, which the API server's pod mounts.
 */
const API_SERVER_PATHS = `files_root=\${KUBEADM_ISTIO_LAB_ROOT:-}
encryption_config="$files_root"${ENCRYPTION_CONFIG_FILE}
audit_policy="$files_root"${AUDIT_POLICY_FILE}`;

/**
 * The encryption config (the key from stdin filled into its slot by bash, as the token is) and the audit
 * policy, each written only when it differs. The key's file is created mode 600 (umask, not a chmod
 * after: it is never readable by others), in folders of mode 700, by root (the script runs as root).
 */
const API_SERVER_FILES = `
mkdir -p "$files_root"${ENCRYPTION_DIR} "$files_root"${AUDIT_POLICY_DIR} "$files_root"${AUDIT_LOG_DIR}
chmod 0700 "$files_root"${ENCRYPTION_DIR} "$files_root"${AUDIT_LOG_DIR}
wanted_encryption=$(cat <<'EOF'
${toYaml(encryptionConfiguration(ENCRYPTION_KEY_SLOT)).trim()}
EOF
)
wanted_encryption=\${wanted_encryption//${ENCRYPTION_KEY_SLOT}/$encryption_key}
if [ "$(cat "$encryption_config" 2>/dev/null)" != "$wanted_encryption" ]; then
  (umask 077 && printf '%s\\n' "$wanted_encryption" > "$encryption_config")
fi
chmod 0600 "$encryption_config"
wanted_policy=$(cat <<'EOF'
${toYaml(auditPolicy()).trim()}
EOF
)
if [ "$(cat "$audit_policy" 2>/dev/null)" != "$wanted_policy" ]; then
  printf '%s\\n' "$wanted_policy" > "$audit_policy"
fi
`;

/** `kubeadm init` once (secrets on stdin: initStdin); a control plane that already has admin.conf is left alone. */
export function kubeadmInitScript(p: InitParams): string {
  return kubeadmStep({
    mark: "init",
    title: "kubeadm init",
    doneFile: "/etc/kubernetes/admin.conf",
    doneMessage: "control plane already initialised",
    liveCheck: "kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz --request-timeout=10s >/dev/null 2>&1",
    secrets: [TOKEN_LINE, ENCRYPTION_KEY_LINE],
    config: kubeadmInitConfig(p),
    paths: API_SERVER_PATHS,
    // The files are read when the API server starts: a running control plane is not changed, even by a
    // new key in the stack's state (README: Secrets at rest).
    whenDone: `
  if [ ! -f "$encryption_config" ]; then
    echo ${shQuote(`this control plane was initialised before this program encrypted Secrets at rest and turned the audit log on: it keeps kubeadm's defaults (${ENCRYPTION_CONFIG_FILE} is absent); see the README, "Secrets at rest, audit log, Weave's password"`)} >&2
  fi`,
    prepare: API_SERVER_FILES,
    // Not a secret: the installed kubeadm's own version, so kubeadm never asks dl.k8s.io.
    fillFrom: [[KUBEADM_VERSION_PLACEHOLDER, "$(kubeadm version -o short)"]],
    command: `${preflightFlag(p.allowCgroupV1).trimStart()}
kubeadm init --config "$config" --skip-token-print --skip-certificate-key-print${p.allowCgroupV1 ? ' "${ignore[@]}"' : ""}
# Init's token only had to exist for kubeadm's join setup; each worker joins with a token of its own.
kubeadm token delete --kubeconfig /etc/kubernetes/admin.conf "\${token%%.*}" >/dev/null`,
  });
}

/** Prints the admin kubeconfig (the caller marks stdout secret and turns logging off). */
export function readKubeconfigScript(): string {
  return script("read admin kubeconfig", "cat /etc/kubernetes/admin.conf");
}

/** Prints "sha256:<hex>" of the cluster CA's public key, for --discovery-token-ca-cert-hash. */
export function caCertHashScript(): string {
  return script(
    "CA certificate hash",
    `
hash=$(openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt \\
  | openssl pkey -pubin -outform der \\
  | openssl dgst -sha256 -hex | sed 's/^.* //')
echo "sha256:$hash"
`,
  );
}

export interface JoinParams {
  nodeName: string;
  controlPlaneEndpoint: string;
  /** cluster.allowCgroupV1 */
  allowCgroupV1: boolean;
}

/** The secrets `kubeadm join` reads from stdin, one per line. */
export interface JoinSecrets {
  token: string;
  /** "sha256:<hex>" of the cluster CA's public key. */
  caCertHash: string;
}

/** stdin of a join command (secret). */
export function joinStdin(s: JoinSecrets): string {
  return `${s.token}\n${s.caCertHash}\n`;
}

/** kubeadm's JoinConfiguration (v1beta4): the token and CA hash go in a file, not on the command line. */
export function kubeadmJoinConfig(p: JoinParams, secrets: JoinSecrets = { token: TOKEN_SLOT, caCertHash: CA_HASH_SLOT }): string {
  return `apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: ${yamlString(p.controlPlaneEndpoint)}
    token: ${yamlString(secrets.token)}
    caCertHashes: [${yamlString(secrets.caCertHash)}]
nodeRegistration:
  name: ${yamlString(p.nodeName)}
  criSocket: unix:///run/containerd/containerd.sock
`;
}

/** `kubeadm join` once (secrets on stdin: joinStdin); a node that already has kubelet.conf has joined. */
export function kubeadmJoinScript(p: JoinParams): string {
  return kubeadmStep({
    mark: "join",
    title: `kubeadm join ${p.nodeName}`,
    doneFile: "/etc/kubernetes/kubelet.conf",
    doneMessage: "node already joined",
    liveCheck: `kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node ${shQuote(p.nodeName)} --request-timeout=10s >/dev/null 2>&1`,
    secrets: [
      TOKEN_LINE,
      { name: "ca_cert_hash", slot: CA_HASH_SLOT, pattern: "^sha256:[a-f0-9]{64}$", what: "the CA certificate hash (sha256:<hex>)" },
    ],
    config: kubeadmJoinConfig(p),
    command: `${preflightFlag(p.allowCgroupV1).trimStart()}
kubeadm join --config "$config"${p.allowCgroupV1 ? ' "${ignore[@]}"' : ""}`,
  });
}

/** stdin of the join-token steps (secret): the worker's own token. */
export function tokenStdin(token: string): string {
  return `${token}\n`;
}

/**
 * On the control plane, just before a worker joins: makes that worker's bootstrap token (from stdin),
 * valid JOIN_TOKEN_TTL. Idempotent: a token that exists is left as it is.
 */
export function joinTokenScript(nodeName: string): string {
  return script(
    `join token for ${nodeName}`,
    `
${readSecrets([TOKEN_LINE])}
kubeconfig=/etc/kubernetes/admin.conf
if kubeadm token list --kubeconfig "$kubeconfig" -o 'jsonpath={.token}{"\\n"}' 2>/dev/null | grep -qx "\${token%%.*}\\..*"; then
  echo "the join token of this node exists"
  exit 0
fi
# The token goes in a file, not on kubeadm's command line, where the machine's process list would show it.
config=$(mktemp)
trap 'rm -f "$config"' EXIT
chmod 600 "$config"
printf '%s\\n' 'apiVersion: kubeadm.k8s.io/v1beta4' 'kind: InitConfiguration' 'bootstrapTokens:' \\
  "  - token: '$token'" ${shQuote(`    description: ${yamlString(`kubeadm-istio-lab join of ${nodeName}`)}`)} \\
  '    ttl: ${JOIN_TOKEN_TTL}' '    usages: [signing, authentication]' '    groups: [system:bootstrappers:kubeadm:default-node-token]' > "$config"
kubeadm token create --config "$config" --kubeconfig "$kubeconfig" >/dev/null
echo ${shQuote(`join token for ${nodeName} made, valid ${JOIN_TOKEN_TTL}`)}
`,
  );
}

/**
 * On the control plane once a worker joined: deletes that worker's token (from stdin), so none outlives
 * its join. The same command's delete drains the worker before its reset.
 */
export function joinedScript(nodeName: string): string {
  return script(
    `${nodeName} joined`,
    `
${readSecrets([TOKEN_LINE])}
kubeadm token delete --kubeconfig /etc/kubernetes/admin.conf "\${token%%.*}" >/dev/null 2>&1 || true
echo ${shQuote(`${nodeName} joined; its join token is deleted`)}
`,
  );
}

/** Run on the control plane before a worker resets: move its pods away and remove the Node. */
export function drainNodeScript(nodeName: string): string {
  return script(
    `drain ${nodeName}`,
    `
node=${shQuote(nodeName)}
kubeconfig=/etc/kubernetes/admin.conf
if [ ! -f "$kubeconfig" ] || ! kubectl --kubeconfig "$kubeconfig" get node "$node" >/dev/null 2>&1; then
  echo "node $node not in the cluster (or API unreachable); nothing to drain"
  exit 0
fi
kubectl --kubeconfig "$kubeconfig" drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=120s || \\
  echo "drain of $node did not finish; continuing with removal" >&2
kubectl --kubeconfig "$kubeconfig" delete node "$node" --ignore-not-found
`,
  );
}

/** Undo init or join: what `pulumi destroy` runs on each node. */
export function kubeadmResetScript(): string {
  return script(
    "kubeadm reset",
    `
if command -v kubeadm >/dev/null 2>&1 && [ -d /etc/kubernetes ]; then
  kubeadm reset --force
fi
# kubeadm reset leaves the CNI's config, state and interfaces behind; a later join would reuse them.
rm -rf /etc/cni/net.d /var/lib/weave /run/flannel /var/lib/cni
# The init step's files: the encryption key goes with the cluster. The audit log stays, as logs do.
rm -rf ${ENCRYPTION_DIR} ${AUDIT_POLICY_DIR}
for link in cni0 flannel.1 weave; do
  if ip link show "$link" >/dev/null 2>&1; then ip link delete "$link"; fi
done
rm -rf "${MARKS_DIR}"
`,
  );
}

/** How long the nodes may take to become Ready once the CNI is applied (its images pulled, its pods up). */
export const NODES_READY_TIMEOUT_SECONDS = 300;

/** What the wait for Ready nodes needs: the nodes and where to look when they do not become Ready. */
export interface NodesReadyParams {
  /** Every node of the cluster (nodes[].name). */
  nodeNames: string[];
  /** Seconds to wait for the last of them. */
  timeoutSeconds: number;
  /** The command that shows the CNI's pods, named in the error. */
  cniPods: string;
}

/**
 * Run on the control plane once the CNI is applied: waits until every node reports Ready, and when one
 * never does, fails naming each such node with its Ready condition (kubelet's reason and message), so
 * that a broken pod network stops `up` here and not as a chart's timeout later.
 */
export function nodesReadyScript(p: NodesReadyParams): string {
  return script(
    "wait for Ready nodes",
    `
kubeconfig=/etc/kubernetes/admin.conf
nodes=(${p.nodeNames.map(shQuote).join(" ")})
timeout=${p.timeoutSeconds}
ready_of() {
  kubectl --kubeconfig "$kubeconfig" get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true
}
while :; do
  waiting=()
  for node in "\${nodes[@]}"; do
    [ "$(ready_of "$node")" = True ] || waiting+=("$node")
  done
  if [ "\${#waiting[@]}" -eq 0 ]; then
    echo "nodes Ready: \${nodes[*]} (waited \${SECONDS}s)"
    exit 0
  fi
  [ "$SECONDS" -lt "$timeout" ] || break
  sleep 3
done
echo "nodes not Ready after \${timeout}s:" >&2
for node in "\${waiting[@]}"; do
  line=$(kubectl --kubeconfig "$kubeconfig" get node "$node" -o 'jsonpath=Ready={.status.conditions[?(@.type=="Ready")].status} ({.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message})' 2>/dev/null) || line="not registered with the API server"
  echo "  - $node: $line" >&2
done
echo ${shQuote(`the pod network is not running on them; see ${p.cniPods} and kubelet's log on each node (journalctl -u kubelet)`)} >&2
exit 1
`,
  );
}
