// The cluster half for real: the `hosts` stack (Pulumi.hosts.yaml) on three Debian test hosts made by
// this suite (tests/rig/hosts.ts: systemd-nspawn, one network namespace each, on a bridge of its own)
// with every package and image from the suite's local sources (tests/rig/sources.ts) on that bridge.
// The real engine runs DebianNode and KubeadmCluster over SSH (command/random: the stand-ins) up to
// `kubeadm init` and two parallel joins, then the Kubernetes provider applies Weave's objects to the
// API server it built. Weave's images cannot be built here (its Go module is refused), so the Weave
// DaemonSet and what depends on it (Istio, Bookinfo, routes) are excluded from `up` (`--exclude
// --exclude-dependents`) and the DaemonSet is judged by a preview against the real API server.
// Network rule: packets go only to this suite's hosts and its own bridge address.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { EngineEvent, OpMap } from '@pulumi/pulumi/automation';

import { parseLabConfig, LabConfig } from '../../config/schema';
import { containerRuntimeScript, kubeadmInitScript, kubeadmJoinScript, kubePackagesScript, prepareHostScript } from '../../specs/scripts';
import { hostsStackConfig, mustOnHost, onHost, useDebianMirror } from '../rig/lab';
import { SourcesState, startSources, stopSources } from '../rig/sources';
import { HostState, HostsState, readHostsState } from '../rig/state';
import { run, toolPath } from './support/cluster';
import { createStack, EngineStack, installStandins, PROJECT, stateFileText } from './support/pulumi';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const HOSTS_SCRIPT = path.join(REPO_ROOT, 'scripts', 'hosts.sh');
// Own prefix and subnet: the hosts suite (labt) and a developer's rig (lab, 10.213.0.0/24) may be up.
const PREFIX = 'labk';
const SUBNET = '10.213.100.0/24';
const KUBE_VERSION = 'v1.36.3';

jest.setTimeout(20 * 60_000);

let work: string;
let hosts: HostsState;
let sources: SourcesState;
let s: EngineStack;
const log: string[] = [];
const onOutput = (line: string): void => {
  log.push(line);
};

function changes(summary: OpMap): OpMap {
  return Object.fromEntries(Object.entries(summary).filter(([op, n]) => op !== 'same' && (n ?? 0) > 0));
}

function urn(type: string, name: string, parents: string[] = []): string {
  const chain = [...parents, type].join('$');
  return `urn:pulumi:${s.name}::${PROJECT}::${chain}::${name}`;
}

// Weave's DaemonSet cannot become ready (no image): it and everything after it stay out of `up`.
const weaveDaemonSet = (): string => urn('kubernetes:apps/v1:DaemonSet', 'weave-net-daemonset', ['kubeadm-istio-lab:network:WeaveNet']);
const clusterOnly = () => ({ exclude: [weaveDaemonSet()], excludeDependents: true, onOutput });

function host(name: string): HostState {
  const h = hosts.hosts.find((x) => x.name === name);
  if (h === undefined) throw new Error(`no host ${name}`);
  return h;
}

async function sudoOn(name: string, script: string, timeoutMs = 60_000): Promise<string> {
  return mustOnHost(hosts, host(name), script, { sudo: true, timeoutMs });
}

/** Runs each probe (a shell command) as root on every host: host → probe → its output. */
async function probeHosts(probes: Record<string, string>): Promise<Record<string, Record<string, string>>> {
  const text = Object.entries(probes).map(([name, cmd]) => `echo "${name}=$(${cmd})"`).join('\n');
  const out: Record<string, Record<string, string>> = {};
  for (const h of hosts.hosts) {
    const lines = (await sudoOn(h.name, text)).trim().split('\n');
    out[h.name] = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }
  return out;
}

function hasSysResource(): boolean {
  const capEff = /^CapEff:\s*(\S+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return ((BigInt(`0x${capEff}`) >> 24n) & 1n) === 1n;
}

function everyHost(expected: Record<string, string>): Record<string, Record<string, string>> {
  return Object.fromEntries(hosts.hosts.map((h) => [h.name, expected]));
}

function labConfig(): LabConfig {
  const doc = parseYaml(fs.readFileSync(s.settingsFile, 'utf8')) as { config: Record<string, unknown> };
  const get = (k: string): unknown => doc.config[`${PROJECT}:${k}`];
  return parseLabConfig({
    cluster: get('cluster'), nodes: get('nodes'), istio: get('istio'), bookinfo: get('bookinfo'), weave: get('weave'),
    traffic: get('traffic'), sources: get('sources'), hasSshPrivateKey: true, hasKubeconfig: false,
  });
}

/** Start and end (engine event times, seconds) of each resource's step in one operation. */
function spans(events: EngineEvent[]): Map<string, { start: number; end: number }> {
  const out = new Map<string, { start: number; end: number }>();
  for (const e of events) {
    const pre = e.resourcePreEvent?.metadata.urn;
    const done = e.resOutputsEvent?.metadata.urn;
    if (pre !== undefined) out.set(pre, { start: e.timestamp, end: Number.NaN });
    if (done !== undefined) {
      const span = out.get(done);
      if (span !== undefined) span.end = e.timestamp;
    }
  }
  return out;
}

async function kubectl(args: string[]): Promise<string> {
  const kubeconfig = path.join(s.stateDir, 'kubeconfig');
  return (await run(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { timeoutMs: 60_000 })).stdout;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-nodes-'));
  const runDir = path.join(work, 'hosts');
  await run('bash', [HOSTS_SCRIPT, 'start', '--dir', runDir, '--prefix', PREFIX, '--subnet', SUBNET], { timeoutMs: 20 * 60_000, cwd: REPO_ROOT });
  hosts = readHostsState(runDir);
  sources = await startSources({ dir: path.join(work, 'sources'), listen: hosts.bridge.address, httpPort: 8080, registryPort: 5000 });
  await useDebianMirror(hosts, sources);
  s = await createStack(`hosts-${process.pid}`, 'hosts', (c) => Object.assign(c, hostsStackConfig(hosts, sources)));
  installStandins(s.env.PULUMI_HOME);
}, 40 * 60_000);

afterAll(async () => {
  await s?.dispose();
  if (sources !== undefined) await stopSources(sources.dir);
  if (hosts !== undefined) await run('bash', [HOSTS_SCRIPT, 'stop', '--dir', hosts.runDir], { timeoutMs: 120_000, cwd: REPO_ROOT });
  fs.rmSync(work, { recursive: true, force: true });
}, 5 * 60_000);

describe('the hosts stack on three Debian test hosts, by the real engine', () => {
  test('a node that does not answer: up stops before any change, naming node, address and config key', async () => {
    // No host at this address of the suite's own bridge: the SSH dial times out.
    const nodes = labConfig().nodes.map((n) => ({ ...n }));
    const down = '10.213.100.99';
    const saved = fs.readFileSync(s.settingsFile, 'utf8');
    await s.stack.setConfig(`${PROJECT}:nodes[2].address`, { value: down }, true);
    try {
      const expected = `node ${nodes[2].name} (SSH) at ${down}:22 does not answer (no connection within 5s); check ${PROJECT}:nodes[2].address and port`;
      await expect(s.stack.up({ onOutput })).rejects.toThrow(expected);
      const exported = await s.stack.exportStack();
      const resources = (exported.deployment as { resources?: { type: string }[] }).resources ?? [];
      // At most the stack itself (and Pulumi's builtin provider, which read the stack's last outputs):
      // not one node step, random value or provider of a cloud, machine or cluster.
      expect(resources.map((r) => r.type).filter((t) => t !== 'pulumi:pulumi:Stack' && t !== 'pulumi:providers:pulumi')).toEqual([]);
    } finally {
      fs.writeFileSync(s.settingsFile, saved);
    }
  });

  const upEvents: EngineEvent[] = [];
  test('up provisions the hosts, runs kubeadm init on nieve and joins sansa and arya in parallel', async () => {
    const result = await s.stack.up({ ...clusterOnly(), onEvent: (e) => upEvents.push(e) });
    expect(result.summary.result).toBe('succeeded');
    expect(result.outputs.kubeconfig.secret).toBe(true);
    fs.writeFileSync(path.join(s.stateDir, 'kubeconfig'), String(result.outputs.kubeconfig.value), { mode: 0o600 });

    // The two joins overlap in time: neither waited for the other.
    const t = spans(upEvents);
    const sansa = t.get(urn('command:remote:Command', 'cluster-join-sansa', ['kubeadm-istio-lab:cluster:KubeadmCluster']));
    const arya = t.get(urn('command:remote:Command', 'cluster-join-arya', ['kubeadm-istio-lab:cluster:KubeadmCluster']));
    expect(sansa && arya).toBeDefined();
    if (sansa === undefined || arya === undefined) return;
    process.stdout.write(`joins: sansa ${sansa.start}-${sansa.end}, arya ${arya.start}-${arya.end} (engine event times, s)\n`);
    expect(sansa.start).toBeLessThan(arya.end);
    expect(arya.start).toBeLessThan(sansa.end);

    const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
      items: { metadata: { name: string }; status: { nodeInfo: { kubeletVersion: string }; conditions: { type: string; status: string; reason?: string }[] } }[];
    };
    expect(nodes.items.map((n) => [n.metadata.name, n.status.nodeInfo.kubeletVersion]).sort()).toEqual(
      [['arya', KUBE_VERSION], ['nieve', KUBE_VERSION], ['sansa', KUBE_VERSION]],
    );
    // Without a running CNI (Weave's DaemonSet is not applied), kubelet reports the network not ready.
    for (const n of nodes.items) {
      const ready = n.status.conditions.find((c) => c.type === 'Ready');
      process.stdout.write(`${n.metadata.name}: Ready=${ready?.status} (${ready?.reason ?? ''})\n`);
    }
    const pods = JSON.parse(await kubectl(['get', 'pods', '-n', 'kube-system', '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { nodeName?: string }; status: { phase: string } }[];
    };
    const running = pods.items.filter((p) => p.status.phase === 'Running').map((p) => p.metadata.name);
    for (const component of ['etcd-nieve', 'kube-apiserver-nieve', 'kube-controller-manager-nieve', 'kube-scheduler-nieve']) {
      expect(running).toContain(component);
    }
    // CoreDNS needs a pod network: without Weave running it is not scheduled onto a NotReady node.
    const coredns = pods.items.filter((p) => p.metadata.name.startsWith('coredns-'));
    expect(coredns.length).toBeGreaterThan(0);
    expect(coredns.map((p) => p.status.phase)).toEqual(coredns.map(() => 'Pending'));
    for (const n of nodes.items) expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('False');
    // The Kubernetes provider applied the rest that can run without Weave's image: its RBAC.
    expect(await kubectl(['get', 'clusterrole,clusterrolebinding', 'weave-net', '-o', 'name'])).toMatch(/clusterrole.*weave-net[\s\S]*clusterrolebinding.*weave-net/);
    expect(await kubectl(['get', 'serviceaccount,role,rolebinding', '-n', 'kube-system', 'weave-net', '-o', 'name'])).toMatch(/serviceaccount\/weave-net/);
  });

  test('each host reads back as provisioned: swap off, sysctls, containerd with SystemdCgroup, packages pinned and held', async () => {
    const expected = {
      swap: '0', 'fstab-swap': '0', ip_forward: '1', 'bridge-nf': '1', containerd: 'active', 'systemd-cgroup': '1',
      // kubeadm's own pause image from the local registry; OOM scores capped where the hosts lack
      // CAP_SYS_RESOURCE, which they do when this machine does (nspawn keeps it otherwise).
      sandbox: `sandbox = "${sources.urls.registry}/pause:3.10.2"`, 'restrict-oom': `restrict_oom_score_adj = ${hasSysResource() ? 'false' : 'true'}`,
      kubeadm: KUBE_VERSION, kubelet: `Kubernetes ${KUBE_VERSION}`, kubectl: KUBE_VERSION, held: 'kubeadm kubectl kubelet',
    };
    expect(await probeHosts({
      swap: 'swapon --show --noheadings | wc -l',
      'fstab-swap': "grep -Ec '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab || true",
      ip_forward: 'sysctl -n net.ipv4.ip_forward',
      'bridge-nf': 'sysctl -n net.bridge.bridge-nf-call-iptables',
      containerd: 'systemctl is-active containerd',
      'systemd-cgroup': "grep -c 'SystemdCgroup = true' /etc/containerd/config.toml",
      sandbox: "grep -Eo 'sandbox = \\S+' /etc/containerd/config.toml",
      'restrict-oom': "grep -Eo 'restrict_oom_score_adj = \\S+' /etc/containerd/config.toml",
      kubeadm: 'kubeadm version -o short',
      kubelet: 'kubelet --version',
      kubectl: `kubectl version --client -o json | grep -o '"gitVersion": *"[^"]*"' | cut -d'"' -f4`,
      held: 'apt-mark showhold | sort | xargs',
    })).toEqual(everyHost(expected));
  });

  test('a second up changes nothing', async () => {
    const result = await s.stack.up(clusterOnly());
    expect(changes(result.summary.resourceChanges ?? {})).toEqual({});
  });

  test('each remote script run a second time by hand changes no file on the host', async () => {
    const cfg = labConfig();
    const c = cfg.cluster;
    // What the scripts may touch: configuration, package state, binaries, units.
    const checksum = `find /etc /var/lib/dpkg /usr/bin /usr/lib/systemd -xdev -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum | md5sum | cut -c1-32`;
    const steps: [string, string][] = [
      ['prepare host', prepareHostScript({ kubernetesVersion: c.kubernetesVersion, allowCgroupV1: c.allowCgroupV1 })],
      ['kube packages', kubePackagesScript(c.kubernetesVersion, cfg.sources.kubernetes)],
      ['containerd', containerRuntimeScript(cfg.sources)],
    ];
    const nieve = host('nieve');
    const byHost: [string, [string, string][]][] = [
      ['nieve', [...steps, ['kubeadm init', kubeadmInitScript({
        nodeName: 'nieve', advertiseAddress: nieve.address, apiServerPort: c.apiServerPort, podCidr: c.podCidr,
        serviceCidr: c.serviceCidr, imageRepository: cfg.sources.imageRepository, allowCgroupV1: c.allowCgroupV1,
      })]]],
      ['sansa', [...steps, ['kubeadm join', kubeadmJoinScript({ nodeName: 'sansa', controlPlaneEndpoint: `${nieve.address}:${c.apiServerPort}`, allowCgroupV1: c.allowCgroupV1 })]]],
    ];
    for (const [name, list] of byHost) {
      for (const [step, text] of list) {
        const before = await sudoOn(name, checksum);
        const r = await onHost(hosts, host(name), text, { sudo: true, timeoutMs: 120_000 });
        const after = await sudoOn(name, checksum);
        expect({ name, step, code: r.code, changed: before !== after }).toEqual({ name, step, code: 0, changed: false });
      }
    }
  });

  test("a preview against the cluster's API server plans Weave's DaemonSet with IPALLOC_RANGE set to the pod CIDR", async () => {
    const events: EngineEvent[] = [];
    const preview = await s.stack.preview({ target: [weaveDaemonSet()], onEvent: (e) => events.push(e), onOutput });
    expect(changes(preview.changeSummary)).toEqual({ create: 1 });
    const planned = events.map((e) => e.resourcePreEvent?.metadata).find((m) => m?.urn === weaveDaemonSet());
    const text = JSON.stringify(planned?.new?.inputs ?? {});
    expect(text).toContain('"name":"IPALLOC_RANGE","value":"10.32.0.0/16"');
  });

  test('no secret in plain text in the state, the engine output or the stack outputs', async () => {
    // What a user gets from `pulumi stack export` (the Automation API's exportStack decrypts: not that),
    // and the secret values themselves, from the state decrypted on purpose.
    const exportState = async (...flags: string[]): Promise<string> =>
      (await run(toolPath('pulumi'), ['stack', 'export', ...flags, '--stack', s.name], { cwd: REPO_ROOT, env: { ...process.env, ...s.env }, timeoutMs: 60_000 })).stdout;
    const exported = await exportState();
    const shown = await exportState('--show-secrets');
    const secrets: string[] = [];
    // Every secret value but commands' stdout and stderr: those are secret as a precaution (what they
    // could leak is among the needles) and their harmless lines, kubeadm's warnings, are logged.
    const collect = (v: unknown, key = ''): void => {
      if (typeof v === 'string') return;
      if (Array.isArray(v)) return v.forEach((x) => collect(x));
      if (typeof v === 'object' && v !== null) {
        const o = v as Record<string, unknown>;
        if (o['4dabf18193072939515e22adb298388d'] === '1b47061264138c4ac30d75fd1eb44270' && typeof o.plaintext === 'string') {
          const value = JSON.parse(o.plaintext) as unknown;
          if (typeof value === 'string' && value.length >= 16 && key !== 'stdout' && key !== 'stderr') secrets.push(value);
        }
        Object.entries(o).forEach(([k, x]) => collect(x, k));
      }
    };
    collect(JSON.parse(shown));
    const key = fs.readFileSync(hosts.ssh.privateKeyPath, 'utf8').trim();
    const kubeconfig = fs.readFileSync(path.join(s.stateDir, 'kubeconfig'), 'utf8');
    const clientKey = /client-key-data: (\S+)/.exec(kubeconfig)?.[1] ?? '';
    // The program's join token, and no other: with one control plane init uploads no certificates (no
    // kubeadm-certs Secret, no second token to fetch them with).
    const tokens = (await sudoOn('nieve', `kubeadm token list --kubeconfig /etc/kubernetes/admin.conf -o 'jsonpath={.token}{"\\n"}'`)).trim().split('\n');
    expect(clientKey.length).toBeGreaterThan(100);
    expect(tokens).toHaveLength(1);
    const certs = await sudoOn('nieve', 'kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get secret kubeadm-certs --ignore-not-found -o name');
    expect(certs.trim()).toBe('');
    for (const t of tokens) expect(t).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const needles = [...secrets, key, clientKey, ...tokens, ...tokens.map((t) => t.split('.')[1])];
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const haystacks: [string, string][] = [['state file', stateFileText(s)], ['exported state', exported], ['engine output', log.join('')]];
    for (const [where, text] of haystacks) {
      const found = needles.filter((n) => text.includes(n)).map((n) => `${n.slice(0, 6)}… (${n.length} chars)`);
      expect({ where, found }).toEqual({ where, found: [] });
    }
  });

  test('destroy drains the workers before their reset and leaves nothing of kubeadm on any host', async () => {
    const events: EngineEvent[] = [];
    const result = await s.stack.destroy({ onOutput, onEvent: (e) => events.push(e) });
    expect(result.summary.result).toBe('succeeded');
    const order = events.map((e) => e.resourcePreEvent?.metadata).filter((m) => m?.op === 'delete').map((m) => m?.urn.split('::').pop());
    for (const worker of ['sansa', 'arya']) {
      expect(order.indexOf(`cluster-drain-${worker}`)).toBeGreaterThanOrEqual(0);
      expect(order.indexOf(`cluster-drain-${worker}`)).toBeLessThan(order.indexOf(`cluster-join-${worker}`));
    }
    expect(order.indexOf('cluster-join-sansa')).toBeLessThan(order.indexOf('cluster-init'));
    const none = { kubeconfigs: '0', manifests: '0', pki: '0', etcd: '0', cni: '0', containers: '0', marks: '0' };
    expect(await probeHosts({
      kubeconfigs: 'ls /etc/kubernetes/*.conf 2>/dev/null | wc -l',
      manifests: 'ls /etc/kubernetes/manifests 2>/dev/null | wc -l',
      pki: 'ls /etc/kubernetes/pki 2>/dev/null | wc -l',
      etcd: 'ls /var/lib/etcd 2>/dev/null | wc -l',
      cni: 'ls /etc/cni/net.d 2>/dev/null | wc -l',
      containers: 'ctr -n k8s.io containers list -q | wc -l',
      marks: 'ls /var/lib/kubeadm-istio-lab 2>/dev/null | wc -l',
    })).toEqual(everyHost(none));
  });
});
