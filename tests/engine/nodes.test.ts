// The cluster half for real: the `hosts` stack (Pulumi.hosts.yaml) on three Debian test hosts made by
// this suite (tests/rig/hosts.ts: systemd-nspawn, one network namespace each, on a bridge of its own)
// with every package and image from the suite's local sources (tests/rig/sources.ts) on that bridge.
// The real engine runs DebianNode and KubeadmCluster over SSH (command/random: the stand-ins) up to
// `kubeadm init` and two parallel joins, then the Kubernetes provider applies flannel (its images built
// here from Go modules) to the API server it built, and the program waits for every node to be Ready.
// Pods then run for real: CoreDNS, kube-proxy, and the suite's own netcheck pods across nodes.
// Istio's base and istiod charts install from a chart repository of this suite's (the pinned Istio
// module's charts) with istiod as a pod (its image the same module's pilot-discovery), whose webhooks the
// API server calls through the cluster network. The ingress gateway and the sidecars need Envoy
// (proxyv2), which cannot be built here: the gateway's release and what follows it (the mesh's PeerAuthentication, Bookinfo, routes)
// stay out of `up` (`--exclude --exclude-dependents`).
// Network rule: packets go only to this suite's hosts and its own bridge address.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { EngineEvent, OpMap } from '@pulumi/pulumi/automation';

import { parseLabConfig, LabConfig } from '../../config/schema';
import { fingerprint, parseHostKey, HostKey } from '../../config/hostKeys';
import { containerRuntimeScript, kubeadmInitScript, kubeadmJoinScript, kubePackagesScript, prepareHostScript } from '../../specs/scripts';
import { HostsIstio, hostsStackConfig, mustOnHost, onHost, useDebianMirror } from '../rig/lab';
import { SourcesState, startSources, stopSources, versionsEnv } from '../rig/sources';
import { freePort } from '../rig/util';
import { HostState, HostsState, readHostsState } from '../rig/state';
import { labCacheDir, run, toolPath } from './support/cluster';
import { createStack, EngineStack, installStandins, PROJECT, stateFileText } from './support/pulumi';
import { checkHardening } from './support/hardening';
import { buildMeshPeerAuthentication } from '../../specs/routes';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const HOSTS_SCRIPT = path.join(REPO_ROOT, 'scripts', 'hosts.sh');
// Own prefix and subnet: the hosts suite (labt) and a developer's rig (lab, 10.213.0.0/24) may be up.
const PREFIX = 'labk';
const SUBNET = '10.213.100.0/24';
const KUBE_VERSION = 'v1.36.3';
/** The host that is added to the stack's nodes after the cluster runs. */
const LATE = 'bran';

jest.setTimeout(20 * 60_000);

let work: string;
let hosts: HostsState;
let sources: SourcesState;
let s: EngineStack;
let charts: ChildProcess | undefined;
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

// The ingress gateway's pods are Envoy (proxyv2), which cannot be built here: its release and everything
// after it (Bookinfo's sidecars are Envoy too, and its routes) stay out of `up`.
const gateway = (): string => urn('kubernetes:helm.sh/v3:Release', 'istio-istio-ingressgateway', ['kubeadm-istio-lab:mesh:Istio']);
const clusterOnly = () => ({ exclude: [gateway()], excludeDependents: true, onOutput });

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

function parsedKey(text: string): HostKey {
  const k = parseHostKey(text);
  if ('error' in k) throw new Error(`rig host key: ${k.error}`);
  return k;
}

/** Runs `fn` with one config value set, then puts the stack's settings file back as it was. */
async function withConfig(key: string, value: string, fn: () => Promise<void>): Promise<void> {
  const saved = fs.readFileSync(s.settingsFile, 'utf8');
  await s.stack.setConfig(`${PROJECT}:${key}`, { value }, true);
  try {
    await fn();
  } finally {
    fs.writeFileSync(s.settingsFile, saved);
  }
}

/** Types of the resources in the state, but the stack and Pulumi's builtin provider (which read the last outputs). */
async function registeredTypes(): Promise<string[]> {
  const exported = await s.stack.exportStack();
  const resources = (exported.deployment as { resources?: { type: string }[] }).resources ?? [];
  return resources.map((r) => r.type).filter((t) => t !== 'pulumi:pulumi:Stack' && t !== 'pulumi:providers:pulumi');
}

/** The bootstrap tokens on the control plane, one per line as kubeadm lists them. */
async function bootstrapTokens(): Promise<string[]> {
  const out = await sudoOn('nieve', `kubeadm token list --kubeconfig /etc/kubernetes/admin.conf -o 'jsonpath={.token}{"\\n"}'`);
  return out.split('\n').filter((t) => t !== '');
}

/** `text` as a regular expression that matches it literally. */
const literally = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

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
    cluster: get('cluster'), nodes: get('nodes'), istio: get('istio'), bookinfo: get('bookinfo'), weave: get('weave'), flannel: get('flannel'),
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

/** Istio's chart repository (scripts/toolchain.sh --only istio-charts) served on loopback, for the engine. */
async function startCharts(): Promise<HostsIstio> {
  const version = versionsEnv().ISTIO_CHART_VERSION;
  if (version === undefined) throw new Error('scripts/versions.env has no ISTIO_CHART_VERSION');
  const repo = path.join(labCacheDir(), 'tools', `istio-charts-${version}`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  charts = spawn(toolPath('istio-charts'), ['serve', '--dir', repo, '--addr', `127.0.0.1:${port}`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/index.yaml`).then((r) => r.ok, () => false)) return { chartRepository: url, version };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the chart repository at ${url} (${repo}) did not answer`);
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-nodes-'));
  const runDir = path.join(work, 'hosts');
  // bran joins late: it runs from the start but is added to the stack's nodes only by the late-join test.
  await run('bash', [HOSTS_SCRIPT, 'start', '--dir', runDir, '--prefix', PREFIX, '--subnet', SUBNET, '--names', 'nieve,sansa,arya,bran'], { timeoutMs: 20 * 60_000, cwd: REPO_ROOT });
  hosts = readHostsState(runDir);
  sources = await startSources({ dir: path.join(work, 'sources'), listen: hosts.bridge.address, httpPort: 8080, registryPort: 5000 });
  await useDebianMirror(hosts, sources);
  const istio = await startCharts();
  s = await createStack(`hosts-${process.pid}`, 'hosts', (c) => {
    const config = hostsStackConfig(hosts, sources, istio);
    Object.assign(c, { ...config, nodes: (config.nodes as unknown[]).filter((n) => (n as { name: string }).name !== LATE) });
  });
  installStandins(s.env.PULUMI_HOME);
}, 40 * 60_000);

afterAll(async () => {
  await s?.dispose();
  charts?.kill('SIGTERM');
  if (sources !== undefined) await stopSources(sources.dir);
  if (hosts !== undefined) await run('bash', [HOSTS_SCRIPT, 'stop', '--dir', hosts.runDir], { timeoutMs: 120_000, cwd: REPO_ROOT });
  fs.rmSync(work, { recursive: true, force: true });
}, 5 * 60_000);

describe('the hosts stack on three Debian test hosts, by the real engine', () => {
  test('a node that does not answer: up stops before any change, naming node, address and config key', async () => {
    // No host at this address of the suite's own bridge: the SSH dial times out.
    const nodes = labConfig().nodes.map((n) => ({ ...n }));
    const down = '10.213.100.99';
    await withConfig('nodes[2].address', down, async () => {
      const expected = `node ${nodes[2].name} (SSH) at ${down}:22 does not answer (no connection within 5s); check ${PROJECT}:nodes[2].address and port`;
      await expect(s.stack.up({ onOutput })).rejects.toThrow(expected);
      // Not one node step, random value or provider of a cloud, machine or cluster.
      expect(await registeredTypes()).toEqual([]);
    });
  });

  test('a node that answers with another host key: up stops before any change, naming node, address and both fingerprints', async () => {
    // sansa's pinned key is nieve's: what a reused address or a spoofed name would present.
    await withConfig('nodes[1].hostKey', host('nieve').hostKey, async () => {
      const pinned = fingerprint(parsedKey(host('nieve').hostKey));
      const presented = fingerprint(parsedKey(host('sansa').hostKey));
      const err = await s.stack.up({ onOutput }).then(() => '', (e: Error) => e.message);
      expect(err).toContain(`node sansa at ${host('sansa').address}:22 presents a different SSH host key than ${PROJECT}:nodes[1].hostKey: pinned ssh-ed25519 ${pinned}, presented ssh-ed25519 ${presented}`);
      expect(await registeredTypes()).toEqual([]);
    });
  });

  test('a signing key that is not the pinned one stops the package step, and nothing is installed from that repository', async () => {
    const wrong = 'DE15B14486CD377B9E876E1A234654DA9A296436';
    await withConfig('sources.kubernetes.keyFingerprint', wrong, async () => {
      const err = await s.stack.up({ ...clusterOnly() }).then(() => '', (e: Error) => e.message);
      expect(err).toContain(`${PROJECT}:sources.kubernetes.keyFingerprint: the signing key from ${sources.urls.kubernetes}Release.key is not the pinned one: pinned ${wrong}, found ${sources.keyFingerprint}`);
      expect(await probeHosts({
        kubeadm: 'dpkg-query -W -f=\'${Status}\' kubeadm 2>/dev/null || echo absent',
        list: 'test -e /etc/apt/sources.list.d/kubernetes.list && echo present || echo absent',
        keyring: 'test -e /etc/apt/keyrings/kubernetes.gpg && echo present || echo absent',
      })).toEqual(everyHost({ kubeadm: 'absent', list: 'absent', keyring: 'absent' }));
    });
  });

  const upEvents: EngineEvent[] = [];
  test('up provisions the hosts, runs kubeadm init on nieve, joins sansa and arya in parallel, and ends with every node Ready', async () => {
    const result = await s.stack.up({ ...clusterOnly(), onEvent: (e) => upEvents.push(e) });
    expect(result.summary.result).toBe('succeeded');
    expect(result.outputs.kubeconfig.secret).toBe(true);
    fs.writeFileSync(path.join(s.stateDir, 'kubeconfig'), String(result.outputs.kubeconfig.value), { mode: 0o600 });

    // The two joins overlap in time: neither waited for the other.
    const t = spans(upEvents);
    const cluster = ['kubeadm-istio-lab:cluster:KubeadmCluster'];
    const sansa = t.get(urn('command:remote:Command', 'cluster-join-sansa', cluster));
    const arya = t.get(urn('command:remote:Command', 'cluster-join-arya', cluster));
    const waits = ['nieve', 'sansa', 'arya'].map((n) => t.get(urn('command:remote:Command', `cluster-ready-${n}`, cluster)));
    expect(sansa && arya).toBeDefined();
    expect(waits.filter((w) => w === undefined)).toEqual([]);
    if (sansa === undefined || arya === undefined) return;
    process.stdout.write(`joins: sansa ${sansa.start}-${sansa.end}, arya ${arya.start}-${arya.end} (engine event times, s)\n`);
    expect(sansa.start).toBeLessThan(arya.end);
    expect(arya.start).toBeLessThan(sansa.end);
    const start = Math.min(...upEvents.map((e) => e.timestamp));
    const allReady = Math.max(...waits.map((w) => w?.end ?? Number.NaN));
    process.stdout.write(`up start to all nodes Ready: ${allReady - start} s\n`);
    // The waits came after flannel's DaemonSet.
    const flannel = t.get(urn('kubernetes:apps/v1:DaemonSet', 'flannel-daemonset', ['kubeadm-istio-lab:network:Flannel']));
    expect(flannel?.end).toBeLessThanOrEqual(Math.min(...waits.map((w) => w?.start ?? Number.NaN)));

    const nodes = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { podCIDR?: string }; status: { nodeInfo: { kubeletVersion: string }; conditions: { type: string; status: string }[] } }[];
    };
    expect(nodes.items.map((n) => [n.metadata.name, n.status.nodeInfo.kubeletVersion, n.status.conditions.find((c) => c.type === 'Ready')?.status]).sort()).toEqual(
      [['arya', KUBE_VERSION, 'True'], ['nieve', KUBE_VERSION, 'True'], ['sansa', KUBE_VERSION, 'True']],
    );
    // Each node's subnet is one of the pod CIDR's, as kubeadm's controller manager allocated it.
    for (const n of nodes.items) expect(n.spec.podCIDR).toMatch(/^10\.32\.\d+\.0\/24$/);
  });

  test('the cluster\'s own pods run: control plane on nieve, kube-proxy and flannel on every node, CoreDNS Ready', async () => {
    const pods = JSON.parse(await kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
      items: { metadata: { name: string; namespace: string; labels?: Record<string, string> }; spec: { nodeName?: string }; status: { phase: string; conditions?: { type: string; status: string }[] } }[];
    };
    const isReady = (p: (typeof pods.items)[number]) => p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const readyOn = (match: (p: (typeof pods.items)[number]) => boolean) => pods.items.filter((p) => match(p) && isReady(p)).map((p) => p.spec.nodeName).sort();
    for (const component of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      expect(readyOn((p) => p.metadata.name === `${component}-nieve`)).toEqual(['nieve']);
    }
    expect(readyOn((p) => p.metadata.labels?.['k8s-app'] === 'kube-proxy')).toEqual(['arya', 'nieve', 'sansa']);
    expect(readyOn((p) => p.metadata.namespace === 'kube-flannel')).toEqual(['arya', 'nieve', 'sansa']);
    expect(readyOn((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns')).toHaveLength(2);
  });

  test('a pod on sansa reaches a pod on arya by its IP (flannel\'s VXLAN), and a Service by its DNS name (CoreDNS, kube-proxy)', async () => {
    const image = `${sources.urls.registry}/lab/netcheck:v1`;
    const server = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'netcheck-server', namespace: 'default', labels: { app: 'netcheck' } },
      spec: { nodeName: 'arya', containers: [{ name: 'serve', image, args: ['serve'], readinessProbe: { httpGet: { path: '/', port: 8080 } } }] },
    };
    const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'netcheck', namespace: 'default' }, spec: { selector: { app: 'netcheck' }, ports: [{ port: 80, targetPort: 8080 }] } };
    const file = path.join(work, 'netcheck.json');
    fs.writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [server, service] }));
    await kubectl(['apply', '-f', file]);
    await kubectl(['wait', '--for=condition=Ready', 'pod/netcheck-server', '--timeout=120s']);
    const serverIp = (await kubectl(['get', 'pod', 'netcheck-server', '-o', 'jsonpath={.status.podIP}'])).trim();
    expect(serverIp).toMatch(/^10\.32\./);

    /** Runs `netcheck get URL` in a pod on sansa; its log and phase. */
    const getFromSansa = async (name: string, url: string): Promise<{ phase: string; log: string }> => {
      const overrides = JSON.stringify({ spec: { nodeName: 'sansa' } });
      await kubectl(['run', name, `--image=${image}`, '--restart=Never', `--overrides=${overrides}`, '--', 'get', url]);
      await kubectl(['wait', `pod/${name}`, '--for=jsonpath={.status.phase}=Succeeded', '--timeout=60s']).catch(() => '');
      const phase = (await kubectl(['get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).trim();
      return { phase, log: (await kubectl(['logs', name])).trim() };
    };
    const byIp = await getFromSansa('netcheck-by-ip', `http://${serverIp}:8080/`);
    expect(byIp).toEqual({ phase: 'Succeeded', log: expect.stringMatching(new RegExp(`^${literally(serverIp)} -> netcheck-server ${literally(serverIp)}`)) });
    const byName = await getFromSansa('netcheck-by-name', 'http://netcheck.default.svc.cluster.local/');
    const clusterIp = (await kubectl(['get', 'service', 'netcheck', '-o', 'jsonpath={.spec.clusterIP}'])).trim();
    expect(byName).toEqual({ phase: 'Succeeded', log: expect.stringMatching(new RegExp(`^${literally(clusterIp)} -> netcheck-server `)) });
    await kubectl(['delete', 'pod,service', '-l', 'app=netcheck', '--wait=false']);
    await kubectl(['delete', 'pod', 'netcheck-by-ip', 'netcheck-by-name', 'netcheck-server', '--ignore-not-found', '--wait=false']);
  });

  test("istiod runs in the cluster, and its webhook decides on Istio objects: the program's PeerAuthentication admitted, a broken VirtualService refused (server dry runs)", async () => {
    const t = spans(upEvents);
    const istiod = t.get(urn('kubernetes:helm.sh/v3:Release', 'istio-istiod', ['kubeadm-istio-lab:mesh:Istio']));
    expect(istiod).toBeDefined();
    process.stdout.write(`up start to istiod Ready: ${(istiod?.end ?? 0) - Math.min(...upEvents.map((e) => e.timestamp))} s\n`);
    const pods = JSON.parse(await kubectl(['-n', 'istio-system', 'get', 'pods', '-l', 'app=istiod', '-o', 'json'])) as {
      items: { spec: { nodeName: string; containers: { image: string }[] }; status: { phase: string; podIP: string } }[];
    };
    expect(pods.items.map((p) => [p.status.phase, p.spec.containers[0].image])).toEqual([['Running', expect.stringMatching(new RegExp(`^${literally(sources.urls.registry)}/istio/pilot:`))]]);
    process.stdout.write(`istiod on ${pods.items[0].spec.nodeName} at ${pods.items[0].status.podIP}\n`);
    // The API server reaches the validating webhook through the istiod Service (kube-proxy, flannel).
    const validator = JSON.parse(await kubectl(['get', 'validatingwebhookconfiguration', 'istio-validator-istio-system', '-o', 'json'])) as {
      webhooks: { failurePolicy: string; clientConfig: { service?: { name: string; namespace: string } } }[];
    };
    expect(validator.webhooks.map((w) => [w.clientConfig.service?.name, w.clientConfig.service?.namespace, w.failurePolicy])).toEqual([['istiod', 'istio-system', 'Fail']]);

    const virtualService = (regex: string) => ({
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'webhook-probe', namespace: 'default' },
      spec: { hosts: ['reviews'], http: [{ match: [{ uri: { regex } }], route: [{ destination: { host: 'reviews' } }] }] },
    });
    const dryRun = async (doc: unknown): Promise<string> => {
      const file = path.join(work, 'probe.json');
      fs.writeFileSync(file, JSON.stringify(doc));
      return kubectl(['apply', '--dry-run=server', '-f', file]).then((out) => out, (e: Error) => e.message);
    };
    // The program's own mesh-wide PeerAuthentication, as specs/routes.ts builds it: its resource waits for
    // the gateway (excluded here), so it is judged by a server-side dry run, webhooks included.
    expect(await dryRun(buildMeshPeerAuthentication('STRICT'))).toMatch(/peerauthentication\.security\.istio\.io\/default created \(server dry run\)/);
    expect(await dryRun(virtualService('^/reviews/[0-9]+$'))).toMatch(/virtualservice\.networking\.istio\.io\/webhook-probe created \(server dry run\)/);
    // A regular expression Envoy would not compile: the CRD's schema cannot tell, istiod's validation does.
    expect(await dryRun(virtualService('(('))).toMatch(/admission webhook "validation\.istio\.io" denied the request: .*/);
  });

  test('Secrets are encrypted at rest in etcd, and the audit log records the request that made one', async () => {
    const result = await checkHardening((name, script) => sudoOn(name, script), 'nieve');
    expect(result).toEqual({ secretRawIsPlain: false, auditRecordsRequest: true });
  });

  test('a worker added to nodes later joins with one up, with a token of its own: the preview shows creates for it alone', async () => {
    // Init's token is long gone (the program deleted it after init, as kubeadm's token cleaner would after 24 h).
    expect(await bootstrapTokens()).toEqual([]);
    const late = host(LATE);
    const index = labConfig().nodes.length;
    const set = (key: string, value: string) => s.stack.setConfig(`${PROJECT}:nodes[${index}].${key}`, { value }, true);
    await set('name', late.name);
    await set('role', 'worker');
    await set('address', late.address);
    await set('user', late.user);
    await set('hostKey', late.hostKey);
    const events: EngineEvent[] = [];
    const preview = await s.stack.preview({ ...clusterOnly(), onEvent: (e) => events.push(e) });
    const planned = events.map((e) => e.resourcePreEvent?.metadata).filter((m) => m !== undefined && m.op !== 'same');
    expect(planned.map((m) => `${m?.op} ${m?.urn.split('::').pop()}`).sort()).toEqual(
      [LATE, `${LATE}-prepare-host`, `${LATE}-kube-packages`, `${LATE}-containerd`, `cluster-token-${LATE}-id`, `cluster-token-${LATE}-secret`,
        `cluster-join-token-${LATE}`, `cluster-join-${LATE}`, `cluster-drain-${LATE}`, `cluster-ready-${LATE}`].map((n) => `create ${n}`).sort(),
    );
    expect(changes(preview.changeSummary)).toEqual({ create: 10 });
    const started = Date.now();
    const result = await s.stack.up({ ...clusterOnly() });
    process.stdout.write(`late join of ${LATE}: up took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    expect(changes(result.summary.resourceChanges ?? {})).toEqual({ create: 10 });
    const ready = (await kubectl(['get', 'node', LATE, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'])).trim();
    expect(ready).toBe('True');
    // Its token was deleted once it joined: no token of ours remains.
    expect(await bootstrapTokens()).toEqual([]);
    expect(changes((await s.stack.up({ ...clusterOnly() })).summary.resourceChanges ?? {})).toEqual({});
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
        kubeProxyConntrackMaxPerCore: c.kubeProxyConntrackMaxPerCore,
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

  test("flannel's network is the cluster's pod CIDR, with the VXLAN backend, in the ConfigMap the program applied", async () => {
    const conf = JSON.parse(await kubectl(['-n', 'kube-flannel', 'get', 'configmap', 'kube-flannel-cfg', '-o', 'jsonpath={.data.net-conf\\.json}'])) as unknown;
    expect(conf).toMatchObject({ Network: '10.32.0.0/16', Backend: { Type: 'vxlan' } });
    const subnets = await probeHosts({ subnet: "grep -Eo '^FLANNEL_SUBNET=10\\.32\\.[0-9]+\\.1/24$' /run/flannel/subnet.env | wc -l", vxlan: "ip -d link show flannel.1 | grep -c 'vxlan id 1'" });
    expect(subnets).toEqual(everyHost({ subnet: '1', vxlan: '1' }));
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
    // No bootstrap token at all once the joins are done: init's and each worker's were deleted after use.
    // With one control plane init uploads no certificates (no kubeadm-certs Secret, no token to fetch them).
    expect(clientKey.length).toBeGreaterThan(100);
    expect(await bootstrapTokens()).toEqual([]);
    const certs = await sudoOn('nieve', 'kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get secret kubeadm-certs --ignore-not-found -o name');
    expect(certs.trim()).toBe('');
    // The tokens the program made are among the state's secrets (random passwords): their halves too.
    const tokenHalves = secrets.filter((v) => /^[a-z0-9]{16}$/.test(v));
    expect(tokenHalves.length).toBeGreaterThanOrEqual(3);
    const needles = [...secrets, key, clientKey];
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
    const none = { kubeconfigs: '0', manifests: '0', pki: '0', etcd: '0', cni: '0', containers: '0', marks: '0', flannel: '0', links: '0', ipam: '0' };
    expect(await probeHosts({
      kubeconfigs: 'ls /etc/kubernetes/*.conf 2>/dev/null | wc -l',
      manifests: 'ls /etc/kubernetes/manifests 2>/dev/null | wc -l',
      pki: 'ls /etc/kubernetes/pki 2>/dev/null | wc -l',
      etcd: 'ls /var/lib/etcd 2>/dev/null | wc -l',
      cni: 'ls /etc/cni/net.d 2>/dev/null | wc -l',
      containers: 'ctr -n k8s.io containers list -q | wc -l',
      marks: 'ls /var/lib/kubeadm-istio-lab 2>/dev/null | wc -l',
      flannel: 'ls /run/flannel 2>/dev/null | wc -l',
      links: "ip -o link show | grep -cE ': (cni0|flannel\\.1)[:@]' || true",
      ipam: 'ls /var/lib/cni 2>/dev/null | wc -l',
    })).toEqual(everyHost(none));
  });
});
