// The whole program under Pulumi's mocks: what it registers for the dev stack (three Debian machines)
// and for an existing cluster, in which order, with which secrets, and what one routing flip changes.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { knownValue, ProgramRun, Recorded, resolve, runProgram, stackConfig } from "./harness";
import { encryptionKeyFromPassword } from "../../specs/apiServer";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-unit-"));
const keyText = `test-key-${process.pid}-${Date.now()}`;
const keyPath = path.join(tmp, "id_test");
fs.writeFileSync(keyPath, keyText, { mode: 0o600 });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const dev: Record<string, unknown> = { ...stackConfig("dev"), sshPrivateKeyPath: keyPath };

function countByType(run: ProgramRun): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of run.resources) counts[r.type] = (counts[r.type] ?? 0) + 1;
  return counts;
}

/**
 * Resolves every input of every custom resource to JSON, keyed by name. In preview some values (a
 * resource's id) stay unknown: those inputs read as "<unknown>".
 */
async function resolvedInputs(run: ProgramRun): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const r of run.resources) {
    if (r.type.startsWith("kubeadm-istio-lab:")) continue;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.inputs)) {
      fields[k] = await knownValue<unknown>(v, "<unknown>");
    }
    out[r.name] = JSON.stringify(fields);
  }
  return out;
}

describe("dev stack: three Debian machines provisioned over SSH", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(dev);
  }, 60_000);

  test("registers every component and resource the lab needs", () => {
    expect(countByType(run)).toEqual({
      "kubeadm-istio-lab:cluster:DebianNode": 3,
      "kubeadm-istio-lab:cluster:KubeadmCluster": 1,
      "kubeadm-istio-lab:network:WeaveNet": 1,
      "kubeadm-istio-lab:mesh:Istio": 1,
      "kubeadm-istio-lab:app:Bookinfo": 1,
      "kubeadm-istio-lab:traffic:TrafficPolicy": 1,
      // 3 steps per node, init, 2 read-backs, a join token, a join and a drain per worker, a wait for
      // each node to be Ready
      "command:remote:Command": 9 + 1 + 2 + 3 * 2 + 3,
      // init's token id and secret, each worker's (no certificate key: nothing joins as a control plane),
      // the key Secrets are encrypted with in etcd, Weave's password
      "random:index/randomPassword:RandomPassword": 2 + 2 * 2 + 1 + 1,
      "kubernetes:core/v1:Secret": 1,
      "pulumi:providers:kubernetes": 1,
      "kubernetes:core/v1:ServiceAccount": 4 + 1,
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": 1,
      "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": 1,
      "kubernetes:rbac.authorization.k8s.io/v1:Role": 1,
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": 1,
      "kubernetes:apps/v1:DaemonSet": 1,
      "kubernetes:helm.sh/v3:Release": 3,
      "kubernetes:security.istio.io/v1:PeerAuthentication": 1,
      "kubernetes:core/v1:Namespace": 1,
      "kubernetes:core/v1:Service": 4,
      "kubernetes:apps/v1:Deployment": 6,
      "kubernetes:networking.istio.io/v1:Gateway": 1,
      "kubernetes:networking.istio.io/v1:VirtualService": 5,
      "kubernetes:networking.istio.io/v1:DestinationRule": 4,
    });
  });

  test("each node is prepared, gets the kube packages, then containerd (whose sandbox image kubeadm names)", () => {
    expect(run.get("sansa-kube-packages").dependsOn).toEqual(["sansa-prepare-host"]);
    expect(run.get("sansa-containerd").dependsOn).toEqual(["sansa-kube-packages"]);
  });

  test("kubeadm init runs on the control plane once it is ready; workers join after init", () => {
    expect(run.get("cluster-init").dependsOn).toEqual(["nieve-containerd"]);
    // Each join after its own token, made on the control plane once init is done and the worker ready.
    expect(run.get("cluster-join-token-sansa").dependsOn).toEqual(["cluster-init", "sansa-containerd"]);
    expect(run.get("cluster-join-sansa").dependsOn).toEqual(["sansa-containerd", "cluster-init", "cluster-join-token-sansa"]);
    expect(run.get("cluster-join-arya").dependsOn).toEqual(["arya-containerd", "cluster-init", "cluster-join-token-arya"]);
  });

  test("workers join in parallel: neither waits for the other", () => {
    expect([...run.dependenciesOf("cluster-join-sansa")].some((d) => d.includes("arya"))).toBe(false);
    expect([...run.dependenciesOf("cluster-join-arya")].some((d) => d.includes("sansa"))).toBe(false);
  });

  test("the CNI comes after the workers joined; Istio after the CNI; Bookinfo after istiod; routes after Bookinfo", () => {
    expect([...run.dependenciesOf("weave-net-daemonset")]).toEqual(expect.arrayContaining(["cluster-drain-sansa", "cluster-drain-arya"]));
    expect([...run.dependenciesOf("istio-istio-base")]).toEqual(expect.arrayContaining(["weave-net-daemonset"]));
    expect(run.get("istio-istiod").dependsOn).toEqual(["istio-istio-base"]);
    expect([...run.dependenciesOf("bookinfo-namespace")]).toEqual(expect.arrayContaining(["istio-istiod", "istio-istio-ingressgateway"]));
    expect([...run.dependenciesOf("traffic-reviews-routes")]).toEqual(expect.arrayContaining(["bookinfo-namespace", "traffic-reviews-subsets"]));
  });

  test("every Kubernetes object goes through the cluster's provider", () => {
    const k8sObjects = run.resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(k8sObjects.length).toBeGreaterThan(30);
    for (const r of k8sObjects) expect(r.provider ?? `${r.name}: no provider`).toMatch(/pulumi:providers:kubernetes::cluster-provider::/);
  });

  test("every Kubernetes object the provider applies names the stack's one field manager; Helm releases apply as Helm", async () => {
    // The transform goes to each component that talks to the cluster; the engine applies it to its children.
    const components = ["weave-net", "istio", "bookinfo", "traffic"];
    expect([...run.transforms.keys()].sort()).toEqual([...components].sort());
    const [transform] = run.transforms.get("istio") ?? [];
    const managers: Record<string, unknown> = {};
    for (const r of run.resources.filter((x) => x.type.startsWith("kubernetes:") && x.type !== "pulumi:providers:kubernetes")) {
      expect({ name: r.name, parent: components.includes(r.parent ?? "") }).toEqual({ name: r.name, parent: true });
      const result = await transform({ type: r.type, name: r.name, custom: true, props: r.inputs, opts: {} });
      const metadata = result?.props.metadata as { annotations?: Record<string, unknown> } | undefined;
      managers[r.type] = metadata?.annotations?.["pulumi.com/patchFieldManager"] ?? "(none)";
    }
    expect(managers["kubernetes:helm.sh/v3:Release"]).toBe("(none)");
    const objects = Object.entries(managers).filter(([type]) => !type.startsWith("kubernetes:helm.sh/"));
    expect(objects.length).toBeGreaterThan(8);
    for (const [type, manager] of objects) expect({ type, manager }).toEqual({ type, manager: "pulumi-kubeadm-istio-lab-test" });
    // Providers and components apply nothing.
    expect(await transform({ type: "pulumi:providers:kubernetes", name: "p", custom: true, props: {}, opts: {} })).toBeUndefined();
  });

  test("destroy resets kubeadm on every node, draining workers first from the control plane", async () => {
    for (const name of ["cluster-init", "cluster-join-sansa", "cluster-join-arya"]) {
      expect((await resolve(run.get(name).inputs.delete)).value).toMatch(/kubeadm reset --force/);
    }
    const drain = run.get("cluster-drain-sansa");
    expect(drain.dependsOn).toEqual(["cluster-join-sansa"]);
    expect((await resolve(drain.inputs.delete)).value).toMatch(/kubectl --kubeconfig "\$kubeconfig" drain "\$node"/);
  });

  test("secrets stay secret: SSH key, bootstrap token, encryption key, kubeconfig", async () => {
    const connection = await resolve(run.get("nieve-prepare-host").inputs.connection);
    expect(connection.secret).toBe(true);
    // The secrets travel on stdin (secret); the scripts themselves hold none.
    for (const name of ["cluster-init", "cluster-join-sansa"]) {
      const stdin = await resolve(run.get(name).inputs.stdin);
      expect(stdin.secret).toBe(true);
      expect(String((await resolve(run.get(name).inputs.create)).value)).not.toMatch(/a{16}/);
    }
    // The mocks' RandomPassword is "a" repeated; the key is 32 bytes made from the 64-character one.
    const encryptionKey = encryptionKeyFromPassword("a".repeat(64));
    expect((await resolve(run.get("cluster-encryption-key").inputs.length)).value).toBe(64);
    expect((await resolve(run.get("cluster-init").inputs.stdin)).value).toBe(`${"a".repeat(6)}.${"a".repeat(16)}\n${encryptionKey}\n`);
    expect(String((await resolve(run.get("cluster-init").inputs.create)).value)).not.toContain(encryptionKey);
    expect((await resolve(run.outputs.kubeconfig)).secret).toBe(true);
    expect((await resolve(run.get("cluster-provider").inputs.kubeconfig)).secret).toBe(true);
    // The key text appears nowhere in a non-secret input.
    for (const r of run.resources) {
      for (const [k, v] of Object.entries(r.inputs)) {
        const { value, secret } = await resolve(v);
        if (!secret) expect(`${r.name}.${k}=${JSON.stringify(value)}`).not.toContain(keyText);
      }
    }
  });

  test("every remote command connects to its node with the node's pinned host key", async () => {
    const pinned = new Map((dev.nodes as { address: string; hostKey: string }[]).map((n) => [n.address, n.hostKey]));
    const commands = run.byType("command:remote:Command");
    expect(commands).toHaveLength(21);
    for (const c of commands) {
      const connection = (await resolve(c.inputs.connection)).value as { host: string; hostKey?: string };
      expect([c.name, connection.hostKey]).toEqual([c.name, pinned.get(connection.host)]);
    }
    expect(new Set(pinned.values()).size).toBe(3);
  });

  test("no certificate key with one control plane, and no RandomBytes (whose ID, the value, is stored in plain text)", () => {
    expect(run.resources.filter((r) => /certificate-key/.test(r.name))).toEqual([]);
    expect(run.byType("random:index/randomBytes:RandomBytes")).toHaveLength(0);
  });

  test("the read-back of the kubeconfig logs nothing", () => {
    expect(run.get("cluster-kubeconfig").inputs.logging).toBe("none");
    expect(run.get("cluster-ca-cert-hash").inputs.logging).toBe("none");
  });

  test("Weave, the lab's CNI, comes with a warning that it is archived, naming the value that switches", () => {
    expect(run.warnings.filter((w) => /Weave Net is archived/.test(w))).toHaveLength(1);
    expect(run.warnings.join("\n")).toMatch(/kubeadm-istio-lab:cluster\.cni: flannel/);
  });

  test("Weave allocates pod addresses from the cluster's pod CIDR", async () => {
    const spec = JSON.stringify((await resolve(run.get("weave-net-daemonset").inputs.spec)).value);
    expect(spec).toContain('{"name":"IPALLOC_RANGE","value":"10.0.0.0/16"}');
  });

  test("Weave's overlay is encrypted: its password a secret RandomPassword, kept in a kube-system Secret the weave container reads WEAVE_PASSWORD from", async () => {
    const secret = run.get("weave-net-password-secret");
    expect(secret.type).toBe("kubernetes:core/v1:Secret");
    expect(secret.parent).toBe("weave-net");
    expect((await resolve(secret.inputs.metadata)).value).toMatchObject({ name: "weave-passwd", namespace: "kube-system" });
    const data = await resolve(secret.inputs.data);
    expect(data.secret).toBe(true);
    const password = (data.value as Record<string, string>)["weave-passwd"];
    expect(Buffer.from(password, "base64").toString("utf8")).toBe("a".repeat(48));
    expect(run.get("weave-net-password").type).toBe("random:index/randomPassword:RandomPassword");
    // pulumi.output: the Secret's name is an Output inside the spec.
    const spec = (await resolve(pulumi.output(run.get("weave-net-daemonset").inputs.spec))).value as {
      template: { spec: { containers: { name: string; env?: { name: string; value?: string; valueFrom?: unknown }[] }[] } };
    };
    const envOf = (container: string) => spec.template.spec.containers.find((c) => c.name === container)?.env ?? [];
    expect(envOf("weave").find((e) => e.name === "WEAVE_PASSWORD")).toEqual({ name: "WEAVE_PASSWORD", valueFrom: { secretKeyRef: { name: "weave-passwd", key: "weave-passwd" } } });
    // The password is in no plain input: the DaemonSet names the Secret, never the value.
    expect(JSON.stringify(spec)).not.toContain(password);
    expect(envOf("weave-npc").map((e) => e.name)).toEqual(["HOSTNAME"]);
    // The DaemonSet's pods need the Secret: it exists first.
    expect(run.get("weave-net-daemonset").dependsOn).toContain("weave-net-password-secret");
  });

  test("Istio's charts are pinned to the configured version, base before istiod before the gateway", () => {
    const releases = run.byType("kubernetes:helm.sh/v3:Release");
    expect(releases.map((r) => [r.inputs.chart, r.inputs.version])).toEqual([["base", "1.29.0"], ["istiod", "1.29.0"], ["gateway", "1.29.0"]]);
    expect(run.get("istio-istio-ingressgateway").dependsOn).toEqual(["istio-istiod"]);
  });

  test("outputs: URL, nodes, kubeconfig and a readable routing summary", async () => {
    expect(run.outputs.productpageUrl).toBe("http://192.0.2.10:31080/productpage");
    expect(run.outputs.productpageNodePortUrl).toBe("http://192.0.2.10:30080/productpage");
    expect(run.outputs.nodes).toEqual([
      { name: "nieve", role: "controlPlane", address: "192.0.2.10" },
      { name: "sansa", role: "worker", address: "192.0.2.11" },
      { name: "arya", role: "worker", address: "192.0.2.12" },
    ]);
    expect(run.outputs.routing).toEqual(["productpage: v1 100%", "details: v1 100%", "ratings: v1 100%", "reviews: v1 90%, v2 10%"]);
  });

  test("preview dials no machine", () => {
    // An unreachable machine would be a warning naming its address; Weave's is the only one.
    expect(run.warnings.filter((w) => !/^Weave Net is archived/.test(w))).toEqual([]);
  });
});

test("monitoring addons are switched on in config, each a pinned chart after istiod", async () => {
  const istio = { ...(dev["istio"] as object), addons: { prometheus: true, grafana: true, kiali: true, jaeger: true } };
  const run = await runProgram({ ...dev, istio });
  const addons = run.byType("kubernetes:helm.sh/v3:Release").filter((r) => !["base", "istiod", "gateway"].includes(String(r.inputs.chart)));
  expect(addons.map((r) => r.inputs.chart)).toEqual(["prometheus", "grafana", "kiali-server", "jaeger"]);
  for (const r of addons) {
    expect(r.inputs.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.dependsOn).toEqual(["istio-istiod"]);
  }
});

describe("dev stack with flannel as its CNI", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram({ ...dev, cluster: { ...(dev.cluster as object), cni: "flannel" } });
  }, 60_000);

  test("flannel instead of Weave, after the workers joined and before Istio; no warning about Weave", () => {
    expect(run.byType("kubeadm-istio-lab:network:Flannel")).toHaveLength(1);
    expect(run.byType("kubeadm-istio-lab:network:WeaveNet")).toHaveLength(0);
    expect([...run.dependenciesOf("flannel-namespace")]).toEqual(expect.arrayContaining(["cluster-drain-sansa", "cluster-drain-arya"]));
    expect([...run.dependenciesOf("istio-istio-base")]).toEqual(expect.arrayContaining(["flannel-daemonset"]));
    expect(run.warnings.filter((w) => /Weave/.test(w))).toEqual([]);
  });

  test("no Weave password: no Secret and no password other than the tokens' and the encryption key's", () => {
    expect(run.byType("kubernetes:core/v1:Secret")).toEqual([]);
    expect(run.byType("random:index/randomPassword:RandomPassword").map((r) => r.name).sort()).toEqual([
      "cluster-encryption-key", "cluster-token-arya-id", "cluster-token-arya-secret", "cluster-token-id", "cluster-token-sansa-id", "cluster-token-sansa-secret", "cluster-token-secret",
    ]);
  });

  test("its network is the cluster's pod CIDR", async () => {
    const data = (await resolve(run.get("flannel-config").inputs.data)).value as Record<string, string>;
    expect(JSON.parse(data["net-conf.json"]).Network).toBe("10.0.0.0/16");
  });
});

test("a mirror's key over https with no keyFingerprint: the run warns it is trusted on first download, naming the key that pins it", async () => {
  const sources = {
    containerd: { aptUrl: "https://mirror.example/docker/debian" },
    kubernetes: { aptUrl: "https://mirror.example/k8s/v{minor}/deb/", keyFingerprint: "DE15B14486CD377B9E876E1A234654DA9A296436" },
  };
  const run = await runProgram({ ...dev, sources }, { preview: true });
  expect(run.warnings.filter((w) => /keyFingerprint/.test(w))).toEqual([
    "kubeadm-istio-lab:sources.containerd.keyFingerprint is not set: the machines trust whatever signing key https://mirror.example/docker/debian/gpg " +
      "serves on its first download (over https, but unchecked). Pin it with its 40 hex digits, as curl -fsSL https://mirror.example/docker/debian/gpg | gpg --show-keys prints them.",
  ]);
});

describe("settings a running cluster cannot take (config/fixed.ts)", () => {
  test("the first up records the CNI and the CIDRs as an output", async () => {
    const run = await runProgram(dev);
    expect(run.outputs.clusterSettings).toEqual({
      "cluster.cni": "weave",
      "cluster.kubernetesVersion": "1.34",
      "cluster.kubeProxyConntrackMaxPerCore": "kube-proxy's default",
      "cluster.podCidr": "10.0.0.0/16",
      "cluster.serviceCidr": "10.96.0.0/12",
      "cluster.apiServerPort": "6443",
      "nodes (the controlPlane node)": "nieve at 192.0.2.10",
    });
  }, 60_000);

  test("switching the CNI or the pod CIDR of a running cluster is refused naming the keys, before anything is registered", async () => {
    const recorded: Recorded[] = [];
    const previousOutputs = { clusterSettings: { "cluster.cni": "weave", "cluster.podCidr": "10.0.0.0/16", "cluster.serviceCidr": "10.96.0.0/12" } };
    const changed = { ...dev, cluster: { ...(dev.cluster as object), cni: "flannel", podCidr: "10.1.0.0/16" } };
    const failure = await runProgram(changed, { previousOutputs, recorded }).then(() => "(it ran)", (e: unknown) => String(e));
    expect(failure).toMatch(/kubeadm-istio-lab:cluster\.cni: the running cluster was built with "weave"; the CNI of a running cluster is not switched in place/);
    expect(failure).toMatch(/kubeadm-istio-lab:cluster\.podCidr: the running cluster was built with "10\.0\.0\.0\/16"/);
    expect(failure).toMatch(/nothing was changed/);
    // Recorded keys that did not change pass.
    expect(failure).not.toMatch(/serviceCidr/);
    expect(recorded.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  }, 60_000);

  test("a new Kubernetes version on a running cluster is refused (no upgrade yet), naming the key and the version it runs", async () => {
    const recorded: Recorded[] = [];
    const previousOutputs = { clusterSettings: { "cluster.kubernetesVersion": "1.34" } };
    const changed = { ...dev, cluster: { ...(dev.cluster as object), kubernetesVersion: "1.35" } };
    const failure = await runProgram(changed, { previousOutputs, recorded }).then(() => "(it ran)", (e: unknown) => String(e));
    expect(failure).toMatch(/kubeadm-istio-lab:cluster\.kubernetesVersion: the running cluster was built with "1\.34"; this program does not upgrade a running cluster yet/);
    expect(recorded.filter((r) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
  }, 60_000);

  test("the same settings pass; so does a stack from before they were recorded", async () => {
    const previousOutputs = { clusterSettings: { "cluster.cni": "weave", "cluster.podCidr": "10.0.0.0/16", "cluster.serviceCidr": "10.96.0.0/12" } };
    await expect(runProgram(dev, { previousOutputs })).resolves.toBeDefined();
    await expect(runProgram(dev, { previousOutputs: { routing: [] } })).resolves.toBeDefined();
  }, 60_000);
});

describe("one routing flip changes one resource", () => {
  test.each([
    ["canary 90/10 → 50/50", { reviews: { canary: "v2", weight: 50 } }, "traffic-reviews-routes"],
    ["blue-green v1 → v2", { reviews: { active: "v2", canary: "v2" } }, null],
    ["ratings delay 2 s", { reviews: { canary: "v2", weight: 10 }, ratings: { fault: { delay: { fixedDelay: "2s" } } } }, "traffic-ratings-routes"],
    ["reviews timeout 0.5 s", { reviews: { canary: "v2", weight: 10, timeout: "0.5s" } }, "traffic-reviews-routes"],
  ])("%s", async (_, traffic, changed) => {
    if (changed === null) return; // canary equal to stable is refused by validation (see config tests)
    const before = await resolvedInputs(await runProgram(dev));
    const after = await resolvedInputs(await runProgram({ ...dev, traffic }));
    const differing = Object.keys(before).filter((k) => before[k] !== after[k]);
    expect(differing).toEqual([changed]);
  }, 60_000);
});

describe("existing cluster (provision: false) with the Istio already installed", () => {
  let server: net.Server;
  let port: number;
  let kubeconfigPath: string;
  const kubeconfigFor = (p: number) => `apiVersion: v1
kind: Config
current-context: local
contexts: [{name: local, context: {cluster: local, user: admin}}]
clusters: [{name: local, cluster: {server: "https://127.0.0.1:${p}"}}]
users: [{name: admin, user: {token: secret-token-${process.pid}}}]
`;
  const existing = (path: string) => ({
    cluster: { provision: false, kubeconfigPath: path, reachabilityTimeoutSeconds: 2 },
    istio: { install: false },
    traffic: { reviews: { canary: "v2", weight: 10 } },
  });

  beforeAll(async () => {
    server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
    kubeconfigPath = path.join(tmp, "kubeconfig");
    fs.writeFileSync(kubeconfigPath, kubeconfigFor(port));
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test("registers no node, no kubeadm, no random, no CNI and no chart", async () => {
    const run = await runProgram(existing(kubeconfigPath), { preview: false });
    const types = new Set(run.resources.map((r) => r.type));
    for (const t of ["kubeadm-istio-lab:cluster:DebianNode", "command:remote:Command", "random:index/randomPassword:RandomPassword",
      "random:index/randomBytes:RandomBytes", "kubeadm-istio-lab:network:WeaveNet", "kubernetes:apps/v1:DaemonSet", "kubernetes:helm.sh/v3:Release"]) {
      expect(types.has(t)).toBe(false);
    }
    expect(run.byType("kubernetes:security.istio.io/v1:PeerAuthentication")).toHaveLength(1);
    expect(run.byType("kubernetes:networking.istio.io/v1:VirtualService")).toHaveLength(5);
    expect(run.outputs.productpageUrl).toBe("http://127.0.0.1:31080/productpage");
    expect(run.warnings).toEqual([]);
  });

  test("the kubeconfig read from the file is a secret, in the provider and in the outputs", async () => {
    const run = await runProgram(existing(kubeconfigPath), { preview: false });
    const kc = await resolve(run.get("cluster-provider").inputs.kubeconfig);
    expect(kc.secret).toBe(true);
    expect(kc.value).toContain(`secret-token-${process.pid}`);
    expect((await resolve(run.outputs.kubeconfig)).secret).toBe(true);
  });

  test("a cluster that does not answer: preview warns, naming the address", async () => {
    const closed = path.join(tmp, "kubeconfig-closed");
    fs.writeFileSync(closed, kubeconfigFor(1)); // port 1 on loopback: nothing listens
    const run = await runProgram(existing(closed), { preview: true });
    expect(run.warnings.join("\n")).toMatch(/the Kubernetes API server at 127\.0\.0\.1:1 does not answer/);
    expect(run.resources.length).toBeGreaterThan(0);
  });

  test("a cluster that does not answer: up stops before registering anything", async () => {
    const closed = path.join(tmp, "kubeconfig-closed2");
    fs.writeFileSync(closed, kubeconfigFor(1));
    await expect(runProgram(existing(closed), { preview: false })).rejects.toThrow(/nothing was changed:[\s\S]*127\.0\.0\.1:1 does not answer/);
  });

  test("a missing kubeconfig file is a config error naming the key", async () => {
    await expect(runProgram(existing(path.join(tmp, "nope")), { preview: true })).rejects.toThrow(/kubeadm-istio-lab:cluster\.kubeconfigPath: cannot read .*nope \(ENOENT\)/);
  });

  test("a kubeconfig without the requested context is refused with the contexts it has", async () => {
    const cfg = existing(kubeconfigPath);
    await expect(runProgram({ ...cfg, cluster: { ...cfg.cluster, context: "prod" } })).rejects.toThrow(/has no context "prod" \(contexts: local\)/);
  });
});

test("bad config registers nothing", async () => {
  await expect(runProgram({ ...dev, traffic: { reviews: { canary: "v2", weight: 120 } } })).rejects.toThrow(/kubeadm-istio-lab:traffic\.reviews\.weight/);
});

describe("config mistakes under the engine (issue 14)", () => {
  const refusal = (config: Record<string, unknown>, opts = {}) =>
    runProgram(config, opts).then(
      () => undefined,
      (e: unknown) => e,
    );

  test("a mistyped top-level key is refused as a RunError (the engine prints its message alone)", async () => {
    const e = await refusal({ ...dev, trafic: { reviews: { active: "v2" } } });
    expect(pulumi.RunError.isInstance(e)).toBe(true);
    expect((e as Error).message).toMatch(/kubeadm-istio-lab:trafic: unknown key of this project; did you mean kubeadm-istio-lab:traffic\?/);
  });

  test("keys of other namespaces are left alone", async () => {
    const run = await runProgram(dev, { otherConfig: { "kubernetes:enableServerSideApply": "true", "pulumi:tags": "{}" } });
    expect(run.resources.length).toBeGreaterThan(0);
  });

  test("an empty section, as the engine passes it (\"\"), is named as empty", async () => {
    const e = await refusal({ ...dev, traffic: "" });
    expect((e as Error).message).toMatch(/kubeadm-istio-lab:traffic: is empty; set a service's routing/);
  });
});

describe("moving the control plane of a running cluster", () => {
  test("a new address for the control-plane node is refused, naming it and what kubeadm did with it", async () => {
    const before = await runProgram(dev);
    const previousOutputs = { clusterSettings: before.outputs.clusterSettings };
    const nodes = (dev.nodes as { name: string; address: string }[]).map((n) => (n.name === "nieve" ? { ...n, address: "192.0.2.20" } : n));
    const failure = await runProgram({ ...dev, nodes }, { previousOutputs }).then(() => "(it ran)", (e: unknown) => String(e));
    expect(failure).toMatch(/kubeadm-istio-lab:nodes \(the controlPlane node\): the running cluster was built with "nieve at 192\.0\.2\.10"; kubeadm wrote its name and address into the cluster's certificates/);
    // A worker's new address is not a fixed setting.
    const worker = (dev.nodes as { name: string; address: string }[]).map((n) => (n.name === "arya" ? { ...n, address: "192.0.2.21" } : n));
    await expect(runProgram({ ...dev, nodes: worker }, { previousOutputs })).resolves.toBeDefined();
  }, 120_000);
});
