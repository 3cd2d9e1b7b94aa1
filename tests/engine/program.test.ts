// The program run for real: Pulumi's engine and Kubernetes provider against a local API server with
// kwok nodes (tests/engine/support). Every check reads back what the API server holds.
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml, stringify } from "yaml";
import { OpMap } from "@pulumi/pulumi/automation";
import { LabConfig, parseLabConfig } from "../../config/schema";
import { SERVICE_NAMES } from "../../specs/catalogue";
import { buildDestinationRule, buildIngressRoutes, buildVirtualService } from "../../specs/routes";
import { renderIstioObjects } from "../../tools/render";
import { CommandError, LocalCluster, run, startCluster, toolPath } from "./support/cluster";
import { createStack, EngineStack, stateFileText } from "./support/pulumi";

jest.setTimeout(300_000);

const NS = "bookinfo";
let cluster: LocalCluster;
let s: EngineStack;
const log: string[] = [];
const onOutput = (line: string) => log.push(line);

interface K8sObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: { conditions?: { type: string; status: string }[] };
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, "-o", "json"])) as T;
}

async function getItems(kind: string): Promise<K8sObject[]> {
  return (await getJson<{ items: K8sObject[] }>(["get", kind, "-n", NS])).items;
}

/** Runs a tool and returns its exit code and output instead of throwing on a non-zero exit. */
async function runTool(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    return { code: 0, ...(await run(file, args, { timeoutMs: 120_000 })) };
  } catch (e) {
    if (e instanceof CommandError) return { code: e.exitCode, stdout: e.stdout, stderr: e.stderr };
    throw e;
  }
}

/** Validated config of the test stack as it stands (same parser as the program). */
function labConfig(): LabConfig {
  const doc = parseYaml(fs.readFileSync(s.settingsFile, "utf8")) as { config: Record<string, unknown> };
  const get = (k: string) => doc.config[`kubeadm-istio-lab:${k}`];
  return parseLabConfig({
    cluster: get("cluster"), istio: get("istio"), bookinfo: get("bookinfo"), traffic: get("traffic"),
    hasSshPrivateKey: false, hasKubeconfig: false,
  });
}

/** Changed operations only (same is not a change). */
function changes(summary: OpMap): OpMap {
  return Object.fromEntries(Object.entries(summary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0));
}

async function expectRoutesInCluster(): Promise<void> {
  const cfg = labConfig();
  for (const service of SERVICE_NAMES) {
    const vs = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", service, "-n", NS]);
    expect({ service, spec: vs.spec }).toEqual({ service, spec: buildVirtualService(service, cfg.traffic[service], NS).spec });
  }
  const ingress = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "bookinfo", "-n", NS]);
  expect(ingress.spec).toEqual(buildIngressRoutes(NS, cfg.traffic.productpage).spec);
}

/** istioctl analyze against the live API server: the program's namespace must have no error or warning. */
async function analyzeCluster(): Promise<string> {
  const r = await runTool(toolPath("istioctl"), ["analyze", "--kubeconfig", cluster.kubeconfigPath, "-n", NS, "--output", "yaml"]);
  return r.stdout + r.stderr;
}

function analyzerFindings(output: string): { code: string; level: string; message: string }[] {
  const docs = parseYaml(output.slice(output.indexOf("- "))) as unknown;
  if (!Array.isArray(docs)) return [];
  return docs as { code: string; level: string; message: string }[];
}

beforeAll(async () => {
  cluster = await startCluster();
  s = await createStack(`engine-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath, reachabilityTimeoutSeconds: 3 };
  });
}, 300_000);

afterAll(async () => {
  await s?.dispose();
  await cluster?.stop();
});

describe("the local stack, run by the engine", () => {
  test("up creates Bookinfo: Deployments Available, Services, subsets and routes as configured", async () => {
    const result = await s.stack.up({ onOutput });
    expect(result.summary.result).toBe("succeeded");
    expect(result.outputs.routing.value).toEqual(["productpage: v1 100%", "details: v1 100%", "ratings: v1 100%", "reviews: v1 90%, v2 10%"]);
    expect(result.outputs.kubeconfig.secret).toBe(true);

    const deployments = await getItems("deployments");
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(
      ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3"],
    );
    for (const d of deployments) {
      expect({ name: d.metadata.name, available: d.status?.conditions?.find((c) => c.type === "Available")?.status }).toEqual({ name: d.metadata.name, available: "True" });
    }
    const services = await getItems("services");
    expect(services.map((x) => x.metadata.name).sort()).toEqual(["details", "productpage", "ratings", "reviews"]);
    expect(services.find((x) => x.metadata.name === "productpage")?.spec.type).toBe("NodePort");

    for (const service of SERVICE_NAMES) {
      const dr = await getJson<K8sObject>(["get", "destinationrules.networking.istio.io", service, "-n", NS]);
      expect(dr.spec).toEqual(buildDestinationRule(service, NS).spec);
    }
    await expectRoutesInCluster();
    const ns = await getJson<K8sObject>(["get", "namespace", NS]);
    expect(ns.metadata.labels?.["istio-injection"]).toBe("enabled");
    const pa = await getJson<K8sObject>(["get", "peerauthentications.security.istio.io", "default", "-n", "istio-system"]);
    expect(pa.spec).toEqual({ mtls: { mode: "STRICT" } });
  });

  test("a second up with nothing changed reports zero changes", async () => {
    const result = await s.stack.up({ onOutput });
    expect(changes(result.summary.resourceChanges ?? {})).toEqual({});
  });

  test("istioctl validate accepts every Istio object the program renders", async () => {
    const file = path.join(s.stateDir, "rendered.yaml");
    const objects = renderIstioObjects(labConfig());
    fs.writeFileSync(file, objects.map((o) => stringify(o)).join("---\n"));
    const r = await runTool(toolPath("istioctl"), ["validate", "-f", file]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.not.stringMatching(/Error|invalid/i) });
    expect(objects.length).toBe(1 + 2 + 2 * SERVICE_NAMES.length);
  });
});

// The seed's scenarios in order: each is one `pulumi config set --path`, one VirtualService updated.
const scenarios: [string, string, string | number, string][] = [
  ["blue-green: all of reviews to v1 (8.1)", "traffic.reviews", JSON.stringify({ active: "v1" }), "reviews: v1 100%"],
  ["blue-green: all of reviews to v2 (8.1)", "traffic.reviews.active", "v2", "reviews: v2 100%"],
  ["canary 90/10 (8.2)", "traffic.reviews", JSON.stringify({ canary: "v2", weight: 10 }), "reviews: v1 90%, v2 10%"],
  ["canary 50/50 (8.2)", "traffic.reviews.weight", 50, "reviews: v1 50%, v2 50%"],
  ["canary 100 (8.2)", "traffic.reviews.weight", 100, "reviews: v1 0%, v2 100%"],
  ["ratings delayed 2 s (8.3)", "traffic.ratings.fault.delay.fixedDelay", "2s", "ratings: v1 100%; delay 2s on 100%"],
  ["reviews timeout 0.5 s (8.3)", "traffic.reviews.timeout", "0.5s", "reviews: v1 0%, v2 100%; timeout 0.5s"],
  ["iPhone User-Agent to v3 (4.3.1)", "traffic.reviews.headerRoutes", JSON.stringify([{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }]), 'user-agent ~ ".*iPhone.*" → v3'],
];

describe.each(scenarios)("%s", (_, key, value, summaryLine) => {
  test("one config set: the preview shows exactly one update, the API server then holds the expected spec, Istio finds no fault", async () => {
    // Scenarios that replace a whole object set it as JSON through the file; the others use --path as users do.
    if (typeof value === "string" && (value.startsWith("{") || value.startsWith("["))) {
      const doc = parseYaml(fs.readFileSync(s.settingsFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
      const [root, ...rest] = key.split(".");
      const top = doc.config[`kubeadm-istio-lab:${root}`] ?? {};
      let target: Record<string, unknown> = top;
      for (const part of rest.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>;
      target[rest[rest.length - 1]] = JSON.parse(value);
      doc.config[`kubeadm-istio-lab:${root}`] = top;
      fs.writeFileSync(s.settingsFile, stringify(doc));
    } else {
      await s.stack.setConfig(`kubeadm-istio-lab:${key}`, { value: String(value) }, true);
    }
    const preview = await s.stack.preview({ onOutput });
    expect(changes(preview.changeSummary)).toEqual({ update: 1 });

    const up = await s.stack.up({ onOutput });
    expect(changes(up.summary.resourceChanges ?? {})).toEqual({ update: 1 });
    expect((up.outputs.routing.value as string[]).join("\n")).toContain(summaryLine);
    await expectRoutesInCluster();

    // IST0103 (a pod without a sidecar) is this cluster's doing: its stand-in Istio has no injector.
    const findings = analyzerFindings(await analyzeCluster())
      .filter((f) => f.level === "Error" || f.level === "Warning")
      .filter((f) => f.code !== "IST0103");
    expect(findings).toEqual([]);
  });
});

describe("Istio's judgement can fail", () => {
  test("a route to a subset no DestinationRule defines is reported by istioctl analyze (IST0101)", async () => {
    const broken = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "broken-reviews", namespace: NS },
      spec: { hosts: ["reviews-broken"], http: [{ route: [{ destination: { host: "reviews", subset: "v9" } }] }] },
    };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(broken) });
    try {
      const findings = analyzerFindings(await analyzeCluster());
      expect(findings.map((f) => f.code)).toContain("IST0101");
    } finally {
      await cluster.kubectl(["delete", "virtualservice.networking.istio.io", "broken-reviews", "-n", NS]);
    }
  });
});

describe("drift, bad config, a lost cluster, destroy, secrets", () => {
  test("weights changed with kubectl are seen by refresh, and the next up restores the configured split", async () => {
    const before = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS]);
    const patch = [{ op: "replace", path: "/spec/http/1/route/0/weight", value: 70 }, { op: "replace", path: "/spec/http/1/route/1/weight", value: 30 }];
    await cluster.kubectl(["patch", "virtualservices.networking.istio.io", "reviews", "-n", NS, "--type=json", "-p", JSON.stringify(patch)]);
    const refresh = await s.stack.refresh({ onOutput });
    expect(changes(refresh.summary.resourceChanges ?? {})).toEqual({ update: 1 });
    const up = await s.stack.up({ onOutput });
    expect(changes(up.summary.resourceChanges ?? {})).toEqual({ update: 1 });
    const after = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS]);
    expect(after.spec).toEqual(before.spec);
  });

  test("bad config: up fails before any change, naming the key; objects and state unchanged", async () => {
    const stateBefore = stateFileText(s);
    const vsBefore = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS]);
    await s.stack.setConfig("kubeadm-istio-lab:traffic.reviews.weight", { value: "150" }, true);
    try {
      await expect(s.stack.up({ onOutput })).rejects.toThrow(/kubeadm-istio-lab:traffic\.reviews\.weight: Too big: expected number to be <=100 \(got 150\)/);
    } finally {
      await s.stack.setConfig("kubeadm-istio-lab:traffic.reviews.weight", { value: "100" }, true);
    }
    const vsAfter = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS]);
    expect(vsAfter.spec).toEqual(vsBefore.spec);
    expect(resourcesOf(stateFileText(s))).toEqual(resourcesOf(stateBefore));
  });

  test("a mistyped key (trafic): preview and up fail naming it, with the message alone; nothing changes", async () => {
    const stateBefore = stateFileText(s);
    await s.stack.setConfig("kubeadm-istio-lab:trafic.reviews.active", { value: "v2" }, true);
    try {
      const named = /kubeadm-istio-lab:trafic: unknown key of this project; did you mean kubeadm-istio-lab:traffic\?/;
      for (const run of [() => s.stack.preview({ onOutput }), () => s.stack.up({ onOutput })]) {
        const error = await run().then(() => undefined, (e: unknown) => (e instanceof Error ? e.message : String(e)));
        expect(error).toMatch(named);
        // A RunError: the engine prints no stack trace of the program.
        expect(error).not.toMatch(/^\s+at .*\.(ts|js):\d+/m);
        expect(error).not.toMatch(/unhandled exception/);
      }
    } finally {
      await s.stack.removeConfig("kubeadm-istio-lab:trafic");
    }
    expect(resourcesOf(stateFileText(s))).toEqual(resourcesOf(stateBefore));
  });

  test("secrets: the state file holds no plaintext kubeconfig or client key", () => {
    const state = stateFileText(s);
    const kubeconfig = fs.readFileSync(cluster.kubeconfigPath, "utf8");
    const secretLines = kubeconfig.split("\n").map((l) => l.trim()).filter((l) => /^(client-key-data|client-certificate-data|token|certificate-authority-data):/.test(l));
    expect(secretLines.length).toBeGreaterThan(0);
    for (const line of secretLines) expect(state).not.toContain(line.split(":")[1].trim());
    expect(state).toContain("4dabf18193072939515e22adb298388d"); // Pulumi's secret signature marks them
  });

  test("destroy removes everything of the program's from the cluster", async () => {
    const result = await s.stack.destroy({ onOutput });
    expect(result.summary.result).toBe("succeeded");
    const left = await cluster.kubectl(["get", "virtualservices.networking.istio.io,destinationrules.networking.istio.io,gateways.networking.istio.io,peerauthentications.security.istio.io,deployments,services,serviceaccounts", "-A", "-l", "app.kubernetes.io/managed-by=kubeadm-istio-lab", "-o", "name"]);
    expect(left.trim()).toBe("");
    const namespaces = await cluster.kubectl(["get", "namespaces", "-o", "name"]);
    expect(namespaces).not.toMatch(/namespace\/bookinfo\b/);
  });

  test("lost cluster: preview warns that the API server does not answer; up fails fast; state unchanged", async () => {
    const stateBefore = stateFileText(s);
    await cluster.stopApiServer();
    const lines: string[] = [];
    const preview = await s.stack.preview({ onOutput: (l) => lines.push(l) });
    // The provider still prints a normal diff (creates, after the destroy above) ...
    expect(preview.changeSummary.create ?? 0).toBeGreaterThan(20);
    // ... and the program says plainly that the cluster is not there.
    expect(preview.stdout + lines.join("")).toMatch(/the Kubernetes API server at 127\.0\.0\.1:\d+ does not answer/);
    const started = Date.now();
    await expect(s.stack.up({ onOutput })).rejects.toThrow(/nothing was changed:[\s\S]*does not answer/);
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(resourcesOf(stateFileText(s))).toEqual(resourcesOf(stateBefore));
  });
});

/**
 * Resource URNs and inputs from a state file, to compare states across a failed operation. Secrets
 * are re-encrypted (new nonce) each time the engine writes the file: compare them as "<secret>".
 * The root stack resource is left out: the engine registers it before the program runs.
 */
function resourcesOf(state: string): unknown {
  const doc = JSON.parse(state, (key: string, value: unknown) => (key === "ciphertext" ? "<secret>" : value)) as {
    checkpoint: { latest?: { resources?: { urn: string; type: string; inputs?: unknown }[] } };
  };
  return (doc.checkpoint.latest?.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => [r.urn, r.inputs]);
}

