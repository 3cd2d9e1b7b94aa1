// The local control plane that engine tests run against (scripts/cluster.sh), and Istio's own
// checks (istioctl) that judge the VirtualServices the program writes.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import {
  CLUSTER_COMPONENTS,
  CLUSTER_NODES,
  CommandError,
  LocalCluster,
  isProcessAlive,
  run,
  startCluster,
  toolPath,
} from './support/cluster';

interface Condition {
  type: string;
  status: string;
}
interface NodeItem {
  metadata: { name: string; labels?: Record<string, string> };
  spec: { taints?: unknown[] };
  status: { conditions?: Condition[] };
}
interface CrdItem {
  metadata: { name: string };
  spec: { scope: string; versions: { name: string; served: boolean; storage: boolean }[] };
  status?: { conditions?: Condition[] };
}
interface VirtualServiceItem {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
  spec: unknown;
}

const ISTIO_CRDS = [
  'virtualservices.networking.istio.io',
  'destinationrules.networking.istio.io',
  'gateways.networking.istio.io',
  'peerauthentications.security.istio.io',
];

const NS = 'lab-cluster-test';

function virtualService(name: string, spec: object): string {
  return JSON.stringify({
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name, namespace: NS },
    spec,
  });
}

const reviewsSpec = {
  hosts: ['reviews'],
  http: [
    {
      route: [
        { destination: { host: 'reviews', subset: 'v1' }, weight: 90 },
        { destination: { host: 'reviews', subset: 'v2' }, weight: 10 },
      ],
      timeout: '0.5s',
    },
  ],
};

const reviewsDestinationRule = JSON.stringify({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews', namespace: NS },
  spec: {
    host: 'reviews',
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ],
  },
});

const reviewsService = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'reviews', namespace: NS },
  spec: { selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080 }] },
});

async function istioctl(args: string[], workDir: string): Promise<{ code: number; output: string }> {
  // istioctl never needs the live cluster here; an empty kubeconfig keeps it off any default one.
  const kubeconfig = path.join(workDir, 'empty-kubeconfig');
  fs.writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n');
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: workDir };
  try {
    const { stdout, stderr } = await run(toolPath('istioctl'), args, { env, timeoutMs: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    if (error instanceof CommandError && error.exitCode !== null) {
      return { code: error.exitCode, output: error.stdout + error.stderr };
    }
    throw error;
  }
}

describe('local cluster (scripts/cluster.sh)', () => {
  let cluster: LocalCluster | undefined;
  let workDir: string;

  const c = (): LocalCluster => {
    if (cluster === undefined) {
      throw new Error('cluster did not start');
    }
    return cluster;
  };

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-cluster-test-'));
    const started = Date.now();
    cluster = await startCluster({ onOutput: (out) => process.stdout.write(out) });
    process.stdout.write(`cluster started in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  }, 150_000);

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  test('listens on loopback and has the three fake nodes Ready and untainted', async () => {
    expect(c().server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const nodes = JSON.parse(await c().kubectl(['get', 'nodes', '-o', 'json'])) as { items: NodeItem[] };
    expect(nodes.items.map((n) => n.metadata.name).sort()).toEqual([...CLUSTER_NODES].sort());
    for (const node of nodes.items) {
      const ready = node.status.conditions?.find((cond) => cond.type === 'Ready');
      expect({ node: node.metadata.name, ready: ready?.status }).toEqual({ node: node.metadata.name, ready: 'True' });
      expect(node.spec.taints ?? []).toEqual([]);
      expect(node.metadata.labels?.['kubernetes.io/hostname']).toBe(node.metadata.name);
    }
    const nieve = nodes.items.find((n) => n.metadata.name === 'nieve');
    expect(nieve?.metadata.labels).toHaveProperty(['node-role.kubernetes.io/control-plane'], '');
  });

  test('has the Istio CRDs Established at v1', async () => {
    const crds = JSON.parse(await c().kubectl(['get', 'crd', '-o', 'json'])) as { items: CrdItem[] };
    for (const name of ISTIO_CRDS) {
      const crd = crds.items.find((item) => item.metadata.name === name);
      expect(crd).toBeDefined();
      expect(crd?.spec.scope).toBe('Namespaced');
      expect(crd?.spec.versions).toEqual([expect.objectContaining({ name: 'v1', served: true, storage: true })]);
      expect(crd?.status?.conditions?.find((cond) => cond.type === 'Established')?.status).toBe('True');
    }
  });

  test('has a stand-in Istio ingress gateway selected by istio=ingressgateway', async () => {
    const svc = JSON.parse(
      await c().kubectl(['get', 'service', 'istio-ingressgateway', '-n', 'istio-system', '-o', 'json']),
    ) as { spec: { type: string; selector: Record<string, string>; ports: { name: string; port: number }[] } };
    expect(svc.spec.type).toBe('NodePort');
    expect(svc.spec.selector.istio).toBe('ingressgateway');
    expect(svc.spec.ports).toContainEqual(expect.objectContaining({ name: 'http2', port: 80 }));
    const pods = await c().kubectl(['get', 'pods', '-n', 'istio-system', '-l', 'istio=ingressgateway', '-o', 'name']);
    expect(pods.trim()).not.toBe('');
  });

  test('runs a Deployment to Available on the fake nodes', async () => {
    await c().kubectl(['create', 'namespace', NS]);
    await c().kubectl(['create', 'deployment', 'details', '-n', NS, '--image=docker.io/istio/examples-bookinfo-details-v1:1.20.3', '--replicas=2']);
    await c().kubectl(['rollout', 'status', 'deployment/details', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 });
    const deployment = JSON.parse(await c().kubectl(['get', 'deployment', 'details', '-n', NS, '-o', 'json'])) as {
      status: { availableReplicas?: number };
    };
    expect(deployment.status.availableReplicas).toBe(2);
  }, 90_000);

  test('kubectl apply of a v1 VirtualService reads back the same spec', async () => {
    await c().kubectl(['apply', '-f', '-'], { input: virtualService('reviews', reviewsSpec) });
    const vs = JSON.parse(
      await c().kubectl(['get', 'virtualservices.networking.istio.io', 'reviews', '-n', NS, '-o', 'json']),
    ) as VirtualServiceItem;
    expect(vs.apiVersion).toBe('networking.istio.io/v1');
    expect(vs.spec).toEqual(reviewsSpec);
    // Short name from the CRD.
    expect((await c().kubectl(['get', 'vs', '-n', NS, '-o', 'name'])).trim()).toBe(
      'virtualservice.networking.istio.io/reviews',
    );
  });

  test('istioctl validate accepts a good VirtualService and rejects a negative timeout', async () => {
    const good = path.join(workDir, 'good.yaml');
    fs.writeFileSync(good, virtualService('reviews', reviewsSpec));
    const ok = await istioctl(['validate', '-f', good], workDir);
    expect(ok).toEqual({ code: 0, output: expect.any(String) });

    const bad = path.join(workDir, 'bad.yaml');
    fs.writeFileSync(
      bad,
      virtualService('reviews', { ...reviewsSpec, http: [{ ...reviewsSpec.http[0], timeout: '-1s' }] }),
    );
    const rejected = await istioctl(['validate', '-f', bad], workDir);
    expect(rejected.code).not.toBe(0);
    // istioctl's words: "duration must be greater than 1ms".
    expect(rejected.output).toMatch(/duration|timeout/i);
  }, 90_000);

  test('istioctl analyze reports IST0101 for a subset no DestinationRule defines', async () => {
    // The Service makes the host known, so the only IST0101 left is the missing subset.
    const svc = path.join(workDir, 'svc.yaml');
    fs.writeFileSync(svc, reviewsService);
    const vs = path.join(workDir, 'vs.yaml');
    fs.writeFileSync(vs, virtualService('reviews', reviewsSpec));
    // Without -A (or -n NS) analyze reports only on the namespace "default" and finds nothing.
    const withoutRule = await istioctl(['analyze', '--use-kube=false', '--all-namespaces', svc, vs], workDir);
    expect(withoutRule.output).toMatch(/IST0101[^\n]*subset[^\n]*"reviews\+v1"/);
    expect(withoutRule.code).not.toBe(0);

    const dr = path.join(workDir, 'dr.yaml');
    fs.writeFileSync(dr, reviewsDestinationRule);
    const withRule = await istioctl(['analyze', '--use-kube=false', '--all-namespaces', svc, vs, dr], workDir);
    expect(withRule.output).not.toContain('IST0101');
    expect(withRule.code).toBe(0);
  }, 90_000);

  test('stopApiServer kills only kube-apiserver; stop kills the rest and removes the folder', async () => {
    const cl = c();
    await cl.stopApiServer();
    expect(isProcessAlive(cl.pids['kube-apiserver'], 'kube-apiserver')).toBe(false);
    expect(isProcessAlive(cl.pids.etcd, 'etcd')).toBe(true);
    await expect(cl.kubectl(['get', 'nodes', '--request-timeout=2s'], { timeoutMs: 10_000 })).rejects.toThrow();

    await cl.stop();
    expect(fs.existsSync(cl.dir)).toBe(false);
    for (const component of CLUSTER_COMPONENTS) {
      expect({ component, alive: isProcessAlive(cl.pids[component], component) }).toEqual({ component, alive: false });
    }
    await cl.stop(); // idempotent
  }, 60_000);
});
