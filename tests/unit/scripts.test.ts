// Every remote script the program can send to a node: valid bash, shellcheck-clean, idempotent by
// construction (each step checks before it changes), and with its inputs quoted.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  caCertHashScript,
  containerRuntimeScript,
  drainNodeScript,
  kubeadmInitConfig,
  kubeadmInitScript,
  kubeadmJoinScript,
  kubeadmResetScript,
  kubePackagesScript,
  nodesReadyScript,
  joinTokenScript,
  joinedScript,
  tokenStdin,
  JOIN_TOKEN_TTL,
  prepareHostScript,
  initStdin,
  joinStdin,
  readKubeconfigScript,
  registryHostsToml,
} from "../../specs/scripts";
import { shQuote } from "../../specs/quote";
import { apiServerHardening, auditPolicy, encryptionConfiguration, encryptionKeyFromPassword } from "../../specs/apiServer";
import { AptSource, parseLabConfig, SourcesSpec } from "../../config/schema";
import { parseAllDocuments } from "yaml";

/** The sources a stack gets by default, and an offline stack's mirrors on a private network. */
const sourcesOf = (sources: unknown, kubernetesVersion = "1.34"): SourcesSpec =>
  parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/k", kubernetesVersion }, sources, hasSshPrivateKey: false, hasKubeconfig: false }).sources;
const publicSources = sourcesOf(undefined);
/** The mirror's own signing key, pinned: its keys come over plain http. */
const MIRROR_KEY = "0123456789ABCDEF0123456789ABCDEF01234567";
const offline = {
  containerd: { aptUrl: "http://10.213.0.1:8080/docker/debian", keyUrl: "http://10.213.0.1:8080/docker/debian/gpg", keyFingerprint: MIRROR_KEY },
  kubernetes: { aptUrl: "http://10.213.0.1:8080/kubernetes/v{minor}/deb/", keyFingerprint: MIRROR_KEY },
  imageRepository: "10.213.0.1:5000",
  registryMirrors: { "10.213.0.1:5000": "http://10.213.0.1:5000", "docker.io": "http://10.213.0.1:5000" },
};
const offlineSources = sourcesOf(offline, "1.36");

const init = {
  nodeName: "nieve",
  advertiseAddress: "192.0.2.10",
  apiServerPort: 6443,
  podCidr: "10.0.0.0/16",
  serviceCidr: "10.96.0.0/12",
  token: "abcdef.0123456789abcdef",
  encryptionKey: encryptionKeyFromPassword("unit-test-password"),
  imageRepository: "registry.k8s.io",
  allowCgroupV1: false,
};
const host = { kubernetesVersion: "1.36", allowCgroupV1: false };

const scripts: Record<string, string> = {
  "prepare host": prepareHostScript(host),
  "prepare host, cgroup v1 allowed": prepareHostScript({ ...host, allowCgroupV1: true }),
  containerd: containerRuntimeScript(publicSources),
  "containerd from mirrors": containerRuntimeScript(offlineSources),
  "kube packages": kubePackagesScript("1.34", publicSources.kubernetes),
  "kube packages from a mirror": kubePackagesScript("1.36", offlineSources.kubernetes),
  "kubeadm init from a mirror": kubeadmInitScript({ ...init, imageRepository: offlineSources.imageRepository }),
  "kubeadm init": kubeadmInitScript(init),
  "kubeadm init, cgroup v1 allowed": kubeadmInitScript({ ...init, allowCgroupV1: true }),
  "read kubeconfig": readKubeconfigScript(),
  "ca cert hash": caCertHashScript(),
  "kubeadm join": kubeadmJoinScript({ nodeName: "sansa", controlPlaneEndpoint: "192.0.2.10:6443", allowCgroupV1: false }),
  "kubeadm join, cgroup v1 allowed": kubeadmJoinScript({ nodeName: "sansa", controlPlaneEndpoint: "192.0.2.10:6443", allowCgroupV1: true }),
  drain: drainNodeScript("sansa"),
  reset: kubeadmResetScript(),
  "nodes ready": nodesReadyScript({ nodeNames: ["nieve", "sansa", "arya"], timeoutSeconds: 300, cniPods: "kubectl -n kube-flannel get pods -o wide" }),
};

describe.each(Object.entries(scripts))("%s script", (_, text) => {
  test("parses with bash -n", () => {
    const r = spawnSync("bash", ["-n"], { input: text, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("passes shellcheck", () => {
    const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], { input: text, encoding: "utf8" });
    expect(r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  test("stops on the first error and on unset variables", () => {
    expect(text.split("\n").slice(0, 4)).toContain("set -euo pipefail");
  });
});

/** The apt source line a script writes, as bash builds it on an amd64 machine running bookworm. */
function aptLine(text: string): string {
  const start = text.indexOf("keyring=/etc/apt/keyrings/");
  const block = text.slice(start, text.indexOf('if [ "$(cat "$list"', start));
  return execFileSync("bash", ["-c", `set -euo pipefail\ndpkg() { echo amd64; }\ncodename=bookworm\n${block}\nprintf '%s' "$repo"`], { encoding: "utf8" });
}

test("shellcheck does catch a broken script (the check can fail)", () => {
  const r = spawnSync("shellcheck", ["--shell=bash", "-"], { input: "#!/usr/bin/env bash\nrm -rf $dir/*\n", encoding: "utf8" });
  expect(r.status).not.toBe(0);
});

test("apt repositories use signed-by keyrings, never apt-key or the retired apt.kubernetes.io", () => {
  const all = Object.values(scripts).join("\n");
  expect(all).not.toMatch(/\bapt-key\b|apt\.kubernetes\.io|packages\.cloud\.google\.com/);
  expect(aptLine(scripts.containerd)).toBe("deb [arch=amd64 signed-by=/etc/apt/keyrings/containerd.gpg] https://download.docker.com/linux/debian bookworm stable");
  expect(aptLine(scripts["kube packages"])).toBe("deb [arch=amd64 signed-by=/etc/apt/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /");
  expect(scripts["kube packages"]).toMatch(/key_url='https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.34\/deb\/Release\.key'/);
  expect(scripts.containerd).toMatch(/key_url='https:\/\/download\.docker\.com\/linux\/debian\/gpg'/);
  // The public repositories' published fingerprints, checked before apt trusts the keys.
  expect(scripts.containerd).toContain("key_fingerprint='9DC858229FC7DD38854AE2D88D81803C0EBFCD88'");
  expect(scripts["kube packages"]).toContain("key_fingerprint='DE15B14486CD377B9E876E1A234654DA9A296436'");
  expect(scripts["kube packages"]).toMatch(/minor='1\.34'/);
  expect(scripts["kube packages"]).toMatch(/apt-mark hold kubelet kubeadm kubectl/);
});

test("containerd gets the systemd cgroup driver and a full config (the packaged one can disable CRI)", () => {
  expect(scripts.containerd).toMatch(/containerd config default \\\n  \| sed -E 's\/SystemdCgroup = false\/SystemdCgroup = true\/'/);
  expect(scripts.containerd).toMatch(/containerd\.io/);
});

test("swap stays off after a reboot, and the kernel modules and sysctls are persistent", () => {
  const s = scripts["prepare host"];
  expect(s).toMatch(/swapoff -a/);
  expect(s).toMatch(/\/etc\/fstab/);
  expect(s).toMatch(/\/etc\/modules-load\.d\/kubernetes\.conf/);
  expect(s).toMatch(/br_netfilter/);
  expect(s).toMatch(/net\.ipv4\.ip_forward\s+= 1/);
});

test("init and join are guarded, so a second run changes nothing", () => {
  expect(scripts["kubeadm init"]).toMatch(/if \[ -f "\$marks\/init\.done" \]; then[\s\S]*exit 0/);
  expect(scripts["kubeadm join"]).toMatch(/if \[ -f "\$marks\/join\.done" \]; then[\s\S]*exit 0/);
  // State this program did not make is adopted only while its cluster answers.
  expect(scripts["kubeadm init"]).toMatch(/elif \[ -f \/etc\/kubernetes\/admin\.conf \]; then\n  if kubectl --kubeconfig \/etc\/kubernetes\/admin\.conf get --raw \/readyz/);
  expect(scripts["kubeadm join"]).toMatch(/elif \[ -f \/etc\/kubernetes\/kubelet\.conf \]; then\n  if kubectl --kubeconfig \/etc\/kubernetes\/kubelet\.conf get node 'sansa'/);
  expect(scripts["kubeadm init"]).toMatch(/--skip-token-print/);
});

test("kubeadm init uses the pod CIDR with ASCII dashes (the seed's en dash broke it)", () => {
  const cfg = kubeadmInitConfig(init, init);
  const [initConfiguration, clusterConfiguration] = parseAllDocuments(cfg).map((d) => d.toJS() as Record<string, Record<string, unknown>>);
  expect(clusterConfiguration.networking).toEqual({ podSubnet: "10.0.0.0/16", serviceSubnet: "10.96.0.0/12" });
  expect(initConfiguration.localAPIEndpoint).toEqual({ advertiseAddress: "192.0.2.10", bindPort: 6443 });
  expect(cfg).toMatch(/token: "abcdef\.0123456789abcdef"/);
  expect(Object.values(scripts).join("")).not.toMatch(/[\u2013\u2014]/);
});

test("values are quoted for bash, even hostile ones", () => {
  const hostile = `x'; rm -rf / #`;
  const out = execFileSync("bash", ["-c", `printf %s ${shQuote(hostile)}`], { encoding: "utf8" });
  expect(out).toBe(hostile);
});

test("the prepare-host script is idempotent when run twice against a fake root", () => {
  // Run the fstab edit twice on a copy: the second run must leave the file as the first left it.
  const edit = prepareHostScript(host).split("\n").filter((l) => l.includes("sed -i")).join("\n").replace(/\/etc\/fstab/g, '"$1"');
  const fstab = "UUID=1 / ext4 defaults 0 1\nUUID=2 none swap sw 0 0\n";
  const run = (input: string) =>
    execFileSync("bash", ["-c", `f=$(mktemp); printf %s "$1" > "$f"; set -- "$f"; ${edit}; cat "$f"; rm -f "$f"`, "_", input], { encoding: "utf8" });
  const once = run(fstab);
  expect(once).toBe("UUID=1 / ext4 defaults 0 1\n# UUID=2 none swap sw 0 0\n");
  expect(run(once)).toBe(once);
});

describe("offline sources (sources.* in stack config)", () => {
  const offlineScripts = [scripts["containerd from mirrors"], scripts["kube packages from a mirror"], scripts["kubeadm init from a mirror"]].join("\n");

  test("a stack with mirrors sends no machine to a public repository or registry", () => {
    expect(offlineScripts).not.toMatch(/download\.docker\.com|pkgs\.k8s\.io|registry\.k8s\.io\/pause|imageRepository: registry\.k8s\.io/);
    expect(aptLine(scripts["containerd from mirrors"])).toBe("deb [arch=amd64 signed-by=/etc/apt/keyrings/containerd.gpg] http://10.213.0.1:8080/docker/debian bookworm stable");
    expect(aptLine(scripts["kube packages from a mirror"])).toBe("deb [arch=amd64 signed-by=/etc/apt/keyrings/kubernetes.gpg] http://10.213.0.1:8080/kubernetes/v1.36/deb/ /");
    expect(scripts["kube packages from a mirror"]).toMatch(/key_url='http:\/\/10\.213\.0\.1:8080\/kubernetes\/v1\.36\/deb\/Release\.key'/);
    expect(scripts["kube packages from a mirror"]).toContain(`key_fingerprint='${MIRROR_KEY}'`);
  });

  test("kubeadm pulls from the configured image repository, at the installed kubeadm's version", () => {
    const cfg = kubeadmInitConfig({ ...init, imageRepository: "10.213.0.1:5000" });
    expect(cfg).toMatch(/^imageRepository: "10\.213\.0\.1:5000"$/m);
    expect(cfg).toMatch(/^kubernetesVersion: KUBEADM_INSTALLED_VERSION$/m);
    expect(scripts["kubeadm init"]).toContain("template=${template//KUBEADM_INSTALLED_VERSION/$(kubeadm version -o short)}");
  });

  // containerd's `config default`, in the shape of each major (the lines this program rewrites).
  const defaults: Record<string, string> = {
    "1.7": `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.8"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    SystemdCgroup = false
  restrict_oom_score_adj = false
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
`,
    "2.2": `version = 3
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = 'registry.k8s.io/pause:3.10.1'
[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = ''
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = false
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  sandboxer = 'podsandbox'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    SystemdCgroup = false
[plugins.'io.containerd.transfer.v1.local']
  config_path = ''
`,
  };
  /** The config the script would write, with a fake containerd of one major and a fake kubeadm. */
  function rewrittenConfig(text: string, major: string): string {
    const start = text.indexOf("if ! command -v kubeadm");
    const block = text.slice(start, text.indexOf("if [ \"$(cat /etc/containerd/config.toml", start));
    const bin = fs.mkdtempSync("/tmp/lab-containerd-");
    try {
      fs.writeFileSync(`${bin}/containerd`, `#!/bin/sh\ncat <<'EOF'\n${defaults[major]}EOF\n`, { mode: 0o755 });
      // kubeadm names its pause image under the repository it is given.
      fs.writeFileSync(
        `${bin}/kubeadm`,
        `#!/bin/bash\ncase "$*" in "version -o short") echo v1.36.3;; *) while [ $# -gt 0 ]; do [ "$1" = --image-repository ] && r=$2; shift; done; echo "$r/etcd:3.6.8-0"; echo "$r/pause:3.10.2";; esac\n`,
        { mode: 0o755 },
      );
      return execFileSync("bash", ["-c", `set -euo pipefail\n${block}\nprintf '%s\\n' "$wanted"`], { encoding: "utf8", env: { PATH: `${bin}:/usr/bin:/bin` } });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  }

  test.each(["1.7", "2.2"])("containerd %s: sandbox image is kubeadm's pause from the image repository, mirrors from certs.d, systemd cgroups", (major) => {
    const mirrored = rewrittenConfig(scripts["containerd from mirrors"], major);
    const sandboxKey = major === "1.7" ? "sandbox_image" : "sandbox";
    expect(mirrored).toContain(`  ${sandboxKey} = "10.213.0.1:5000/pause:3.10.2"\n`);
    expect(mirrored).toContain("SystemdCgroup = true");
    // The script reads its own capabilities: the expectation follows this process's CAP_SYS_RESOURCE.
    const capEff = BigInt(`0x${/^CapEff:\s*(\S+)/m.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1] ?? "0"}`);
    expect(mirrored).toContain(`restrict_oom_score_adj = ${(capEff >> 24n) & 1n ? "false" : "true"}`);
    expect(mirrored).not.toMatch(/config_path = (''|"")/);
    expect(mirrored.match(/config_path = "\/etc\/containerd\/certs\.d"/g)?.length).toBe(major === "1.7" ? 1 : 2);
    if (major === "2.2") expect(mirrored).toContain("sandboxer = 'podsandbox'");
    expect(rewrittenConfig(scripts.containerd, major)).toContain(`${sandboxKey} = "registry.k8s.io/pause:3.10.2"`);
  });

  test("containerd's mirrors are hosts.toml files", () => {
    expect(registryHostsToml("docker.io", "http://10.213.0.1:5000")).toBe(
      '# managed by kubeadm-istio-lab (sources.registryMirrors)\nserver = "https://registry-1.docker.io"\n\n[host."http://10.213.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n',
    );
  });

  test("the mirror block writes hosts.toml once and removes only the files it wrote", () => {
    // Run the certs.d part of the script against a temporary folder, twice, with a stale managed entry
    // and a user's own entry present.
    const text = scripts["containerd from mirrors"];
    const block = text.slice(text.indexOf("mkdir -p /etc/containerd/certs.d\n"), text.indexOf("if ! command -v kubeadm"));
    const run = (dir: string) =>
      execFileSync("bash", ["-c", `set -euo pipefail\n${block.replace(/\/etc\/containerd\/certs\.d/g, dir)}\nfind "${dir}" -type f | sort | xargs md5sum`], { encoding: "utf8" });
    const dir = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    try {
      execFileSync("bash", ["-c", `mkdir -p ${dir}/old.example ${dir}/mine.example && printf '# managed by kubeadm-istio-lab\\n' > ${dir}/old.example/hosts.toml && echo 'server = "x"' > ${dir}/mine.example/hosts.toml`]);
      const first = run(dir);
      expect(first).toMatch(/docker\.io\/hosts\.toml/);
      expect(first).toMatch(/10\.213\.0\.1:5000\/hosts\.toml/);
      expect(first).toMatch(/mine\.example\/hosts\.toml/);
      expect(first).not.toMatch(/old\.example/);
      expect(run(dir)).toBe(first);
    } finally {
      execFileSync("rm", ["-rf", dir]);
    }
  });

  test("IPv6 control planes are written in brackets", () => {
    expect(kubeadmInitConfig({ ...init, advertiseAddress: "2001:db8::10" })).toMatch(/controlPlaneEndpoint: "\[2001:db8::10\]:6443"/);
  });
});

describe("secrets reach kubeadm through stdin, never through a script's text or a command line", () => {
  const caCertHash = "sha256:" + "b".repeat(64);
  // A fake kubeadm that prints the config file it was given, run from a private PATH.
  // The cgroup file system type `stat -fc %T /sys/fs/cgroup` reports (cgroup2fs on cgroup v2).
  // marks: the folder where the scripts record started and finished steps (a fresh one by default).
  // root: the folder the init step writes the API server's files under (a fresh one by default; never this machine's /etc).
  const runWithFakeKubeadm = (script: string, stdin: string, cgroupFs = "cgroup2fs", marks?: string, root?: string) => {
    const bin = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    try {
      execFileSync("bash", ["-c", `printf '%s\\n' '#!/usr/bin/env bash' 'if [ "$1" = version ]; then echo v1.36.3; exit 0; fi' 'if [ "$1" = reset ] || [ "$1" = token ]; then echo "args: $*"; exit 0; fi' 'echo "args: $*"; cat "$3"' > ${bin}/kubeadm; chmod +x ${bin}/kubeadm`]);
      execFileSync("bash", ["-c", `printf '%s\\n' '#!/usr/bin/env bash' 'echo ${cgroupFs}' > ${bin}/stat; chmod +x ${bin}/stat`]);
      // The guards also look for files under /etc/kubernetes; this machine has none.
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBEADM_ISTIO_LAB_MARKS: marks ?? `${bin}/marks`, KUBEADM_ISTIO_LAB_ROOT: root ?? `${bin}/root` };
      return spawnSync("bash", ["-c", script], { input: stdin, encoding: "utf8", env });
    } finally {
      execFileSync("rm", ["-rf", bin]);
    }
  };

  test("a finished init is skipped; one that failed half way (a failed up) is reset and run again", () => {
    const marks = fs.mkdtempSync("/tmp/lab-marks-");
    try {
      fs.writeFileSync(`${marks}/init.started`, "");
      const retry = runWithFakeKubeadm(scripts["kubeadm init"], initStdin(init), "cgroup2fs", marks);
      expect(retry.status).toBe(0);
      expect(retry.stdout).toMatch(/did not finish: kubeadm reset, then again\nargs: reset --force\n[\s\S]*args: init --config/);
      expect(fs.readdirSync(marks)).toEqual(["init.done"]);
      const again = runWithFakeKubeadm(scripts["kubeadm init"], initStdin(init), "cgroup2fs", marks);
      expect(again.stdout).toBe("control plane already initialised\n");
      // A kubeadm that fails leaves the step marked started, for the next run to reset.
      fs.rmSync(`${marks}/init.done`);
      fs.mkdirSync(`${marks}/bin`);
      fs.writeFileSync(`${marks}/bin/kubeadm`, '#!/bin/sh\n[ "$1" = version ] && echo v1.36.3 && exit 0\necho "wait-control-plane: timed out" >&2; exit 1\n', { mode: 0o755 });
      const failing = spawnSync("bash", ["-c", scripts["kubeadm init"]], {
        input: initStdin(init), encoding: "utf8", env: { ...process.env, PATH: `${marks}/bin:${process.env.PATH}`, KUBEADM_ISTIO_LAB_MARKS: marks, KUBEADM_ISTIO_LAB_ROOT: `${marks}/root` },
      });
      expect(failing.stderr).toContain("wait-control-plane: timed out");
      expect(failing.status).toBe(1);
      expect(fs.readdirSync(marks).filter((f) => f.startsWith("init."))).toEqual(["init.started"]);
    } finally {
      fs.rmSync(marks, { recursive: true, force: true });
    }
  });

  test("no script holds a token, CA hash or encryption key", () => {
    const all = Object.values(scripts).join("\n");
    expect(all).not.toContain(init.token);
    expect(all).not.toContain(caCertHash);
    expect(all).not.toContain(init.encryptionKey);
  });

  test("init writes the stdin secrets and the installed kubeadm's version into its config, and passes only the file", () => {
    const r = runWithFakeKubeadm(scripts["kubeadm init"], initStdin(init));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^args: init --config \S+ --skip-token-print --skip-certificate-key-print$/m);
    expect(r.stdout).toContain(`token: "${init.token}"`);
    // One control plane: no certificate key, and the control plane's certificates are never uploaded.
    expect(r.stdout).not.toMatch(/certificateKey|upload-certs/);
    expect(r.stdout).toMatch(/^kubernetesVersion: v1\.36\.3$/m);
    expect(r.stdout).not.toMatch(/@[A-Z_]+@|KUBEADM_INSTALLED_VERSION/);
  });

  test("join writes a JoinConfiguration with the token and CA hash from stdin", () => {
    const r = runWithFakeKubeadm(scripts["kubeadm join"], joinStdin({ token: init.token, caCertHash }));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^args: join --config \S+$/m);
    expect(r.stdout).toContain(`token: "${init.token}"`);
    expect(r.stdout).toContain(`caCertHashes: ["${caCertHash}"]`);
    expect(r.stdout).toContain('apiServerEndpoint: "192.0.2.10:6443"');
  });

  test("cgroup v1 allowed: kubelet's failCgroupV1 is off, and kubeadm skips SystemVerification only on a cgroup v1 machine", () => {
    const v1 = runWithFakeKubeadm(scripts["kubeadm init, cgroup v1 allowed"], initStdin(init), "tmpfs");
    expect(v1.status).toBe(0);
    expect(v1.stdout).toMatch(/^args: init --config \S+ --skip-token-print --skip-certificate-key-print --ignore-preflight-errors=SystemVerification$/m);
    expect(v1.stdout).toMatch(/^failCgroupV1: false$/m);
    const v2 = runWithFakeKubeadm(scripts["kubeadm init, cgroup v1 allowed"], initStdin(init), "cgroup2fs");
    expect(v2.stdout).toMatch(/^args: init --config \S+ --skip-token-print --skip-certificate-key-print$/m);
    const join = runWithFakeKubeadm(scripts["kubeadm join, cgroup v1 allowed"], joinStdin({ token: init.token, caCertHash }), "tmpfs");
    expect(join.stdout).toMatch(/^args: join --config \S+ --ignore-preflight-errors=SystemVerification$/m);
    expect(runWithFakeKubeadm(scripts["kubeadm init"], initStdin(init), "tmpfs").stdout).not.toMatch(/failCgroupV1|ignore-preflight/);
  });

  test("a cgroup v1 machine is refused by the first step before it changes anything, naming the config key", () => {
    // swapoff is the script's first change: a fake one that leaves a mark.
    const bin = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
    try {
      execFileSync("bash", ["-c", `printf '%s\\n' '#!/usr/bin/env bash' 'echo tmpfs' > ${bin}/stat; printf '%s\\n' '#!/usr/bin/env bash' 'touch ${bin}/changed' > ${bin}/swapoff; chmod +x ${bin}/stat ${bin}/swapoff`]);
      const r = spawnSync("bash", ["-c", scripts["prepare host"]], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/uses cgroup v1, which kubelet 1\.36 refuses by default; .*set kubeadm-istio-lab:cluster\.allowCgroupV1: true/);
      expect(fs.existsSync(`${bin}/changed`)).toBe(false);
      // kubelet before 1.35 runs on cgroup v1: no check at all.
      expect(prepareHostScript({ kubernetesVersion: "1.34", allowCgroupV1: false })).not.toContain("cgroup2fs");
    } finally {
      execFileSync("rm", ["-rf", bin]);
    }
  });

  test("a malformed stdin is refused before kubeadm runs, without echoing it", () => {
    const r = runWithFakeKubeadm(scripts["kubeadm init"], "not-a-token\n");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("stdin: expected the bootstrap token on line 1\n");
    expect(r.stdout).toBe("");
  });
});

// Issue 22, the cluster: the init step writes the API server's encryption config and audit policy before
// kubeadm starts it. Run against a folder standing in for the machine's root, with every command the
// script starts logged with its arguments, so "not on a command line" is checked, not assumed.
describe("Secrets at rest and the audit log: the init step's files", () => {
  const TOOLS = ["id", "cat", "mkdir", "chmod", "mktemp", "touch", "rm"];
  const files = { encryption: "etc/kubernetes/encryption/config.yaml", policy: "etc/kubernetes/audit/policy.yaml" };

  /** Runs the init script with a fake kubeadm; `root` stands for the machine's /, `marks` for its marks folder. */
  const runInit = (stdin: string, root: string, marks: string) => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "lab-init-files-"));
    try {
      const argv = path.join(bin, "argv.log");
      const probe = path.join(bin, "probe.log");
      for (const tool of TOOLS) {
        const real = execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
        fs.writeFileSync(path.join(bin, tool), `#!/bin/bash\nprintf '%s\\n' "${tool} $*" >> "$ARGV_LOG"\nexec ${real} "$@"\n`, { mode: 0o755 });
      }
      // What the API server would find when kubeadm starts it: each file's mode and text, and the config kubeadm got.
      fs.writeFileSync(
        path.join(bin, "kubeadm"),
        `#!/bin/bash\nprintf '%s\\n' "kubeadm $*" >> "$ARGV_LOG"\n[ "$1" = version ] && echo v1.36.3 && exit 0\necho "args: $*"\n[ "$1" = token ] && exit 0\n` +
          `for f in ${Object.values(files).map((f) => `"$KUBEADM_ISTIO_LAB_ROOT/${f}"`).join(" ")}; do [ -f "$f" ] && echo "$(/usr/bin/stat -c %a "$f") \${f#"$KUBEADM_ISTIO_LAB_ROOT/"}" >> "$PROBE"; done\n` +
          `/bin/cp "$3" "$PROBE.config"\n`,
        { mode: 0o755 },
      );
      const r = spawnSync("bash", ["-c", scripts["kubeadm init"]], {
        input: stdin,
        encoding: "utf8",
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBEADM_ISTIO_LAB_MARKS: marks, KUBEADM_ISTIO_LAB_ROOT: root, ARGV_LOG: argv, PROBE: probe },
      });
      const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "");
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, argv: read(argv), probe: read(probe), kubeadmConfig: read(`${probe}.config`) };
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  };
  const modeOf = (p: string) => (fs.statSync(p).mode & 0o777).toString(8);
  let tmp: string;
  /** A new folder of this test's machine. */
  const fresh = (what: string) => fs.mkdtempSync(path.join(tmp, `${what}-`));
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-init-machine-"));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test("the encryption config (key from stdin, mode 600 in a folder of 700) and the audit policy exist before kubeadm init runs", () => {
    const root = path.join(tmp, "root");
    const r = runInit(initStdin(init), root, path.join(tmp, "marks"));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    // Both there when kubeadm runs; the key's file readable by root alone (the policy's mode follows the umask).
    expect(r.probe.split("\n")).toEqual([`600 ${files.encryption}`, expect.stringMatching(new RegExp(`^[0-7]{3} ${files.policy}$`)), ""]);
    expect(parseAllDocuments(fs.readFileSync(path.join(root, files.encryption), "utf8")).map((d) => d.toJS())).toEqual([encryptionConfiguration(init.encryptionKey)]);
    expect(parseAllDocuments(fs.readFileSync(path.join(root, files.policy), "utf8")).map((d) => d.toJS())).toEqual([auditPolicy()]);
    expect(modeOf(path.join(root, "etc/kubernetes/encryption"))).toBe("700");
    expect(modeOf(path.join(root, "var/log/kubernetes/audit"))).toBe("700");
    // kubeadm's own config names the file; the key is only in the file.
    expect(r.kubeadmConfig).toContain("encryption-provider-config");
    expect(r.kubeadmConfig).not.toContain(init.encryptionKey);
  });

  test("the key is on no command line, in no output and in no kubeadm config", () => {
    const r = runInit(initStdin(init), path.join(tmp, "root"), path.join(tmp, "marks"));
    expect(r.status).toBe(0);
    // Every command the script started, with its arguments: the key is read and written by bash itself.
    expect(r.argv).toMatch(/^kubeadm init --config /m);
    expect(r.argv).toMatch(/^chmod 0600 \S+\/etc\/kubernetes\/encryption\/config\.yaml$/m);
    for (const [where, text] of Object.entries({ argv: r.argv, stdout: r.stdout, stderr: r.stderr, kubeadmConfig: r.kubeadmConfig, script: scripts["kubeadm init"] })) {
      expect({ where, holdsKey: text.includes(init.encryptionKey) }).toEqual({ where, holdsKey: false });
    }
  });

  test("a retry of a failed init rewrites neither file when it is unchanged; a new key rewrites the encryption config only", () => {
    const root = path.join(tmp, "root");
    expect(runInit(initStdin(init), root, fresh("marks1")).status).toBe(0);
    // Unchanged since the epoch: a write would move the time to now.
    for (const f of Object.values(files)) fs.utimesSync(path.join(root, f), 0, 0);
    expect(runInit(initStdin(init), root, fresh("marks2")).status).toBe(0);
    expect(Object.values(files).map((f) => fs.statSync(path.join(root, f)).mtimeMs)).toEqual([0, 0]);
    const other = encryptionKeyFromPassword("another-password");
    expect(runInit(initStdin({ ...init, encryptionKey: other }), root, fresh("marks3")).status).toBe(0);
    expect(fs.statSync(path.join(root, files.encryption)).mtimeMs).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(root, files.encryption), "utf8")).toContain(other);
    expect(modeOf(path.join(root, files.encryption))).toBe("600");
    expect(fs.statSync(path.join(root, files.policy)).mtimeMs).toBe(0);
  });

  test("a finished init reads no stdin and changes no file, even with a new key; one made without the files is named", () => {
    const root = path.join(tmp, "root");
    const marks = path.join(tmp, "marks");
    fs.mkdirSync(marks);
    fs.writeFileSync(path.join(marks, "init.done"), "");
    const before = runInit("", root, marks);
    expect(before.status).toBe(0);
    expect(before.stdout).toBe("control plane already initialised\n");
    expect(before.stderr).toMatch(/^this control plane was initialised before this program encrypted Secrets at rest and turned the audit log on: it keeps kubeadm's defaults/);
    expect(fs.existsSync(root)).toBe(false);
    // Initialised with the files: a key replaced in the stack's state changes nothing on the machine.
    expect(runInit(initStdin(init), root, fresh("marks")).status).toBe(0);
    const written = fs.readFileSync(path.join(root, files.encryption), "utf8");
    const after = runInit(initStdin({ ...init, encryptionKey: encryptionKeyFromPassword("replaced") }), root, marks);
    expect({ status: after.status, stdout: after.stdout, stderr: after.stderr, argv: after.argv }).toEqual({ status: 0, stdout: "control plane already initialised\n", stderr: "", argv: "id -u\n" });
    expect(fs.readFileSync(path.join(root, files.encryption), "utf8")).toBe(written);
  });

  test("a malformed key is refused before anything is written or run, without echoing it", () => {
    const root = path.join(tmp, "root");
    const r = runInit(`${init.token}\nnot-a-key\n`, root, path.join(tmp, "marks"));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("stdin: expected the encryption key (32 bytes, base64) on line 2\n");
    expect(r.stdout).toBe("");
    expect(fs.existsSync(root)).toBe(false);
    expect(r.argv).not.toMatch(/^kubeadm/m);
  });

  test("kubeadm's ClusterConfiguration gives the API server the flags and folders: policy and key read-only, the log writable", () => {
    const docs = parseAllDocuments(kubeadmInitConfig(init)).map((d) => d.toJS() as { kind: string; apiServer?: { extraArgs: { name: string; value: string }[]; extraVolumes: { hostPath: string; mountPath: string; readOnly: boolean }[] } });
    const apiServer = docs.find((d) => d.kind === "ClusterConfiguration")?.apiServer;
    expect(apiServer).toEqual(apiServerHardening());
    const args = Object.fromEntries((apiServer?.extraArgs ?? []).map((a) => [a.name, a.value]));
    expect(args).toEqual({
      "encryption-provider-config": "/etc/kubernetes/encryption/config.yaml",
      "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
      "audit-log-path": "/var/log/kubernetes/audit/audit.log",
      "audit-log-maxage": "30",
      "audit-log-maxbackup": "10",
      "audit-log-maxsize": "100",
    });
    const volumes = apiServer?.extraVolumes ?? [];
    const folderOf = (file: string) => volumes.find((v) => v.mountPath === path.dirname(file));
    expect(folderOf(args["encryption-provider-config"])).toMatchObject({ hostPath: "/etc/kubernetes/encryption", readOnly: true });
    expect(folderOf(args["audit-policy-file"])).toMatchObject({ hostPath: "/etc/kubernetes/audit", readOnly: true });
    expect(folderOf(args["audit-log-path"])).toMatchObject({ hostPath: "/var/log/kubernetes/audit", readOnly: false });
    expect(volumes).toHaveLength(3);
  });

  test("destroy's reset removes the key and the policy with the cluster", () => {
    expect(scripts.reset).toMatch(/^rm -rf \/etc\/kubernetes\/encryption \/etc\/kubernetes\/audit$/m);
  });
});

describe("after the CNI: every node Ready, or an error that names the nodes that are not", () => {
  // A fake kubectl that answers `get node NAME -o jsonpath=...` from a table: Ready status, reason, message.
  const nodes: Record<string, [string, string, string]> = {
    nieve: ["True", "KubeletReady", "kubelet is posting ready status"],
    sansa: ["False", "KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"],
  };
  const runWithFakeKubectl = (script: string) => {
    const bin = fs.mkdtempSync("/tmp/lab-kubectl-");
    try {
      const table = Object.entries(nodes).map(([n, [st, reason, msg]]) => `${n}) st=${shQuote(st)} reason=${shQuote(reason)} msg=${shQuote(msg)} ;;`).join("\n");
      fs.writeFileSync(
        `${bin}/kubectl`,
        `#!/usr/bin/env bash\ncase "$5" in\n${table}\n*) exit 1 ;;\nesac\ncase "$7" in\n*reason*) echo -n "Ready=$st ($reason: $msg)" ;;\n*) echo -n "$st" ;;\nesac\n`,
        { mode: 0o755 },
      );
      return spawnSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  };

  test("all Ready: the step says so and succeeds", () => {
    const r = runWithFakeKubectl(nodesReadyScript({ nodeNames: ["nieve"], timeoutSeconds: 0, cniPods: "x" }));
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^nodes Ready: nieve \(waited \d+s\)$/m);
    expect(r.status).toBe(0);
  });

  test("a node that is not Ready, and one that never registered, fail the step by name with kubelet's condition", () => {
    const r = runWithFakeKubectl(nodesReadyScript({ nodeNames: ["nieve", "sansa", "arya"], timeoutSeconds: 0, cniPods: "kubectl -n kube-flannel get pods -o wide" }));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        "nodes not Ready after 0s:",
        `  - sansa: Ready=False (KubeletNotReady: ${nodes.sansa[2]})`,
        "  - arya: not registered with the API server",
        "the pod network is not running on them; see kubectl -n kube-flannel get pods -o wide and kubelet's log on each node (journalctl -u kubelet)",
        "",
      ].join("\n"),
    );
  });
});

describe("kube-proxy's configuration in kubeadm's init config", () => {
  const docs = (p: Parameters<typeof kubeadmInitConfig>[0]) => parseAllDocuments(kubeadmInitConfig(p)).map((d) => d.toJS() as { kind: string });

  test("left to kubeadm's defaults unless cluster.kubeProxyConntrackMaxPerCore is set", () => {
    expect(docs(init).map((d) => d.kind)).toEqual(["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]);
    const set = docs({ ...init, kubeProxyConntrackMaxPerCore: 0 });
    expect(set.find((d) => d.kind === "KubeProxyConfiguration")).toEqual({ apiVersion: "kubeproxy.config.k8s.io/v1alpha1", kind: "KubeProxyConfiguration", conntrack: { maxPerCore: 0 } });
  });

  test("config takes a whole number of at least 0, only when kubeadm runs", () => {
    const parse = (cluster: Record<string, unknown>) => () =>
      parseLabConfig({ cluster: { insecureSkipHostKeyCheck: true, ...cluster }, nodes: [{ name: "n", role: "controlPlane", address: "10.200.0.10" }], hasSshPrivateKey: true, hasKubeconfig: false });
    expect(parse({ kubeProxyConntrackMaxPerCore: 0 })().cluster.kubeProxyConntrackMaxPerCore).toBe(0);
    expect(parse({ kubeProxyConntrackMaxPerCore: -1 })).toThrow(/cluster\.kubeProxyConntrackMaxPerCore/);
    expect(parse({ kubeProxyConntrackMaxPerCore: 1.5 })).toThrow(/cluster\.kubeProxyConntrackMaxPerCore: must be a whole number/);
    expect(parse({ provision: false, kubeconfigPath: "/k", kubeProxyConntrackMaxPerCore: 0 })).toThrow(/cluster\.kubeProxyConntrackMaxPerCore: only used with cluster\.provision: true/);
  });
});

// Issue 22, package trust: the kube packages step's apt block, run by bash against real gpg with
// throwaway keys; curl, apt-get and dpkg are fakes that log their calls, and /etc/apt is a temporary folder.
describe("the downloaded signing key is checked against its pinned fingerprint before apt trusts it", () => {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), "lab-apt-key-"));
  const gnupg = path.join(top, "gnupg");
  const bin = path.join(top, "bin");
  const keyUrl = "http://10.213.0.1:8080/kubernetes/v1.36/deb/Release.key";
  const gpg = (...args: string[]) => execFileSync("gpg", ["--homedir", gnupg, "--batch", "--yes", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  /** Primary keys' fingerprints in a key file, as gpg lists them. */
  const fingerprintsIn = (file: string) => {
    const lines = execFileSync("gpg", ["--homedir", gnupg, "--batch", "--with-colons", "--show-keys", file], { encoding: "utf8" }).split("\n");
    return lines.flatMap((l, i) => (l.startsWith("fpr:") && lines[i - 1]?.startsWith("pub:") ? [l.split(":")[9]] : []));
  };
  const keys = { a: "", b: "" };
  const files: Record<string, string> = {};

  beforeAll(() => {
    fs.mkdirSync(gnupg, { mode: 0o700 });
    for (const k of ["a", "b"] as const) {
      gpg("--passphrase", "", "--quick-gen-key", `lab test key ${k} <${k}@lab.invalid>`, "ed25519", "sign", "1d");
    }
    const listed = gpg("--with-colons", "--list-keys").split("\n");
    [keys.a, keys.b] = listed.flatMap((l, i) => (l.startsWith("fpr:") && listed[i - 1].startsWith("pub:") ? [l.split(":")[9]] : []));
    for (const [name, args] of Object.entries({ "a.asc": ["--armor", "--export", keys.a], "a.gpg": ["--export", keys.a], "ab.gpg": ["--export", keys.a, keys.b] })) {
      files[name] = path.join(top, name);
      gpg("--output", files[name], ...args);
    }
    files["error.html"] = path.join(top, "error.html");
    fs.writeFileSync(files["error.html"], "<html><body>502 Bad Gateway</body></html>\n");
    fs.mkdirSync(bin);
    // curl copies the served file to its -o target; each fake logs its call.
    fs.writeFileSync(path.join(bin, "curl"), '#!/usr/bin/env bash\necho "curl $*" >> "$CALLS"\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\ncp "$SERVED" "$out"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "apt-get"), '#!/usr/bin/env bash\necho "apt-get $*" >> "$CALLS"\n', { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "dpkg"), "#!/usr/bin/env bash\necho amd64\n", { mode: 0o755 });
  }, 60_000);
  afterAll(() => {
    spawnSync("gpgconf", ["--homedir", gnupg, "--kill", "all"]);
    fs.rmSync(top, { recursive: true, force: true });
  });

  /** A fresh /etc/apt with its two folders, as on a machine after the first lines of the step. */
  const freshRoot = () => {
    const root = fs.mkdtempSync(path.join(top, "etc-apt-"));
    fs.mkdirSync(path.join(root, "keyrings"));
    fs.mkdirSync(path.join(root, "sources.list.d"));
    return root;
  };
  const sourceWith = (kubernetes: Record<string, string>): AptSource => sourcesOf({ kubernetes: { aptUrl: "http://10.213.0.1:8080/kubernetes/v{minor}/deb/", ...kubernetes } }, "1.36").kubernetes;

  /** Runs the step's apt block with /etc/apt moved to `root` (passed as $1, never as text). */
  const runBlock = (source: AptSource, served: string, root: string) => {
    const text = kubePackagesScript("1.36", source);
    const block = text.slice(text.indexOf("keyring=/etc/apt/keyrings/"), text.indexOf("\ninstalled=$(dpkg-query"));
    const calls = path.join(root, "calls.log");
    fs.writeFileSync(calls, "", { flag: "a" });
    const r = spawnSync("bash", ["-c", `set -euo pipefail\n${block.replace(/\/etc\/apt\//g, '"$1"/')}`, "_", root], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}`, SERVED: served, CALLS: calls },
    });
    const read = (f: string) => (fs.existsSync(path.join(root, f)) ? fs.readFileSync(path.join(root, f)) : undefined);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.readFileSync(calls, "utf8").split("\n").filter(Boolean), keyring: read("keyrings/kubernetes.gpg"), list: read("sources.list.d/kubernetes.list")?.toString() };
  };
  /** The fingerprint as a person might paste it: lower case, in gpg's groups of four. */
  const spaced = (fpr: string) => fpr.toLowerCase().replace(/(.{4})/g, "$1 ").trim();

  test("the pinned key passes (pasted lower case with spaces): apt gets it in binary form, then apt-get update; a second run downloads nothing", () => {
    const root = freshRoot();
    const source = sourceWith({ keyFingerprint: spaced(keys.a) });
    expect(source.keyFingerprint).toBe(keys.a);
    const first = runBlock(source, files["a.asc"], root);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.calls).toEqual([`curl -fsSL --retry 3 ${keyUrl} -o ${first.calls[0]?.split(" -o ")[1]}`, "apt-get update -q"]);
    expect(first.keyring?.toString("latin1")).not.toContain("BEGIN PGP");
    fs.writeFileSync(path.join(root, "check.gpg"), first.keyring ?? "");
    expect(fingerprintsIn(path.join(root, "check.gpg"))).toEqual([keys.a]);
    expect(first.list).toBe(
      `# kubeadm-istio-lab: signed by ${keys.a} from ${keyUrl}\n` +
        `deb [arch=amd64 signed-by=${root}/keyrings/kubernetes.gpg] http://10.213.0.1:8080/kubernetes/v1.36/deb/ /\n`,
    );
    const again = runBlock(source, files["a.asc"], root);
    expect({ status: again.status, stdout: again.stdout, stderr: again.stderr }).toEqual({ status: 0, stdout: "", stderr: "" });
    expect(again.calls).toEqual(first.calls);
  });

  test("a wrong fingerprint stops the step naming the key, the pinned and the found fingerprints: no keyring, no list, no apt-get", () => {
    const root = freshRoot();
    const r = runBlock(sourceWith({ keyFingerprint: keys.b }), files["a.gpg"], root);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `kubeadm-istio-lab:sources.kubernetes.keyFingerprint: the signing key from ${keyUrl} is not the pinned one: pinned ${keys.b}, found ${keys.a}; ` +
        "apt was not pointed at the repository and nothing was installed from it\n",
    );
    expect(r.calls.filter((c) => c.startsWith("apt-get"))).toEqual([]);
    expect(r.keyring).toBeUndefined();
    expect(r.list).toBeUndefined();
  });

  test("a new pinned fingerprint fetches and checks the key again; a wrong one leaves the machine's keyring and list as they were", () => {
    const root = freshRoot();
    const first = runBlock(sourceWith({ keyFingerprint: keys.a }), files["a.gpg"], root);
    expect(first.status).toBe(0);
    const repinned = runBlock(sourceWith({ keyFingerprint: keys.b }), files["a.gpg"], root);
    expect(repinned.status).toBe(1);
    expect(repinned.calls.filter((c) => c.startsWith("curl"))).toHaveLength(2);
    expect(repinned.calls.filter((c) => c.startsWith("apt-get"))).toHaveLength(1);
    expect(repinned.keyring).toEqual(first.keyring);
    expect(repinned.list).toBe(first.list);
  });

  test("a key file holding other keys too: apt gets the pinned key alone", () => {
    const root = freshRoot();
    const r = runBlock(sourceWith({ keyFingerprint: keys.b }), files["ab.gpg"], root);
    expect(r.status).toBe(0);
    fs.writeFileSync(path.join(root, "check.gpg"), r.keyring ?? "");
    expect(fingerprintsIn(files["ab.gpg"]).sort()).toEqual([keys.a, keys.b].sort());
    expect(fingerprintsIn(path.join(root, "check.gpg"))).toEqual([keys.b]);
  });

  test("a file that holds no key (an error page) stops the step before apt is touched", () => {
    const root = freshRoot();
    const r = runBlock(sourceWith({ keyFingerprint: keys.a }), files["error.html"], root);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`the file at ${keyUrl} (sources.kubernetes.keyUrl) holds no OpenPGP public key; apt was not pointed at the repository and nothing was installed from it\n`);
    expect([r.keyring, r.list, r.calls.filter((c) => c.startsWith("apt-get"))]).toEqual([undefined, undefined, []]);
  });

  test("an https key URL without a fingerprint: the key is trusted as first downloaded, and the step says which key to pin", () => {
    const root = freshRoot();
    const source = sourceWith({ keyUrl: "https://mirror.example/kubernetes/Release.key" });
    expect(source.keyFingerprint).toBeUndefined();
    const r = runBlock(source, files["a.asc"], root);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      `trusting the signing key from https://mirror.example/kubernetes/Release.key as first downloaded (${keys.a}): kubeadm-istio-lab:sources.kubernetes.keyFingerprint is not set\n`,
    );
    expect(r.list?.split("\n")[0]).toBe("# kubeadm-istio-lab: signed by the key first downloaded from https://mirror.example/kubernetes/Release.key");
    fs.writeFileSync(path.join(root, "check.gpg"), r.keyring ?? "");
    expect(fingerprintsIn(path.join(root, "check.gpg"))).toEqual([keys.a]);
  });

  test("gpg runs in the step's own temporary folder, never in root's ~/.gnupg", () => {
    const text = kubePackagesScript("1.36", sourceWith({ keyFingerprint: keys.a }));
    const gpgCalls = text.split("\n").filter((l) => /(^|\s|\$\()gpg\s/.test(l) && !/^\s*(#|echo)/.test(l));
    expect(gpgCalls.length).toBeGreaterThan(0);
    for (const line of gpgCalls) expect(line).toContain('gpg --homedir "$work"');
  });
});

describe("each worker joins with a token of its own, made just before its join and deleted once it joined", () => {
  const token = "sansa1.0123456789abcdef";
  // A fake kubeadm on PATH: `token list` prints the tokens in $TOKENS, every call is logged with the
  // files it was given (so the log shows what reached kubeadm, and through which channel).
  const run = (script: string, tokens: string) => {
    const bin = fs.mkdtempSync("/tmp/lab-token-");
    try {
      fs.writeFileSync(
        `${bin}/kubeadm`,
        `#!/usr/bin/env bash\necho "argv: $*" >> "$LOG"\nif [ "$2" = list ]; then printf '%s\\n' $TOKENS; exit 0; fi\n` +
          `while [ $# -gt 0 ]; do if [ "$1" = --config ]; then cat "$2" >> "$LOG"; fi; shift; done\n`,
        { mode: 0o755 },
      );
      const log = `${bin}/log`;
      const r = spawnSync("bash", ["-c", script], { input: tokenStdin(token), encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, LOG: log, TOKENS: tokens } });
      return { ...r, log: fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "" };
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  };

  test("made from stdin through a file, valid one hour, for that node; never on kubeadm's command line", () => {
    const r = run(joinTokenScript("sansa"), "other1.0123456789abcdef");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`join token for sansa made, valid ${JOIN_TOKEN_TTL}\n`);
    const created = parseAllDocuments(r.log.split("\n").filter((l) => !l.startsWith("argv: ")).join("\n"))[0].toJS() as unknown;
    expect(created).toEqual({
      apiVersion: "kubeadm.k8s.io/v1beta4",
      kind: "InitConfiguration",
      bootstrapTokens: [{ token, description: "kubeadm-istio-lab join of sansa", ttl: "1h0m0s", usages: ["signing", "authentication"], groups: ["system:bootstrappers:kubeadm:default-node-token"] }],
    });
    const argv = r.log.split("\n").filter((l) => l.startsWith("argv: "));
    expect(argv).toEqual([expect.stringMatching(/^argv: token list /), expect.stringMatching(/^argv: token create --config \S+ --kubeconfig \/etc\/kubernetes\/admin.conf$/)]);
    expect(r.log.split("\n").filter((l) => l.startsWith("argv: ") && l.includes("0123456789abcdef"))).toEqual([]);
  });

  test("a second run, while the token exists, makes none", () => {
    const r = run(joinTokenScript("sansa"), `other1.0123456789abcdef ${token}`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("the join token of this node exists\n");
    expect(r.log).not.toMatch(/token create/);
  });

  test("once the worker joined, its token is deleted by id (the secret half is never on a command line)", () => {
    const r = run(joinedScript("sansa"), token);
    expect(r.status).toBe(0);
    expect(r.log.trim()).toBe("argv: token delete --kubeconfig /etc/kubernetes/admin.conf sansa1");
    expect(r.stdout).toBe("sansa joined; its join token is deleted\n");
  });

  test("init deletes its own token once done: no token of init's outlives it", () => {
    expect(kubeadmInitScript(init)).toMatch(/kubeadm init --config "\$config" .*\n.*\nkubeadm token delete --kubeconfig \/etc\/kubernetes\/admin.conf "\$\{token%%\.\*\}"/);
    expect(kubeadmInitConfig(init)).toMatch(/ttl: 15m0s/);
  });
});
