// Real Istio on the local cluster: the engine installs Istio's charts (base, istiod, gateway, built
// from the pinned istio.io/istio module and served on 127.0.0.1), and istiod runs on this machine as
// the cluster's external control plane (scripts/cluster.sh --istio), so every Istio object the program
// applies goes through istiod's validating webhook and every Bookinfo pod through its injector. Pods
// do not really run (kwok nodes), but each object is admitted and mutated by the real istiod.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { EngineEvent as AutomationEvent, LocalWorkspace, OpMap } from "@pulumi/pulumi/automation";
import { parse as parseYaml, stringify } from "yaml";
import { LabConfig, parseLabConfig } from "../../config/schema";
import { SERVICE_NAMES } from "../../specs/catalogue";
import { INGRESS_NAMESPACE, ISTIO_NAMESPACE } from "../../specs/istio-install";
import { routesInput } from "../../tools/routes";
import { CommandError, LocalCluster, REPO_ROOT, run, startCluster, toolPath } from "./support/cluster";
import { createStack, EngineStack, engineEnv, pulumiCommand } from "./support/pulumi";

jest.setTimeout(900_000);

const NS = "bookinfo";
const RELEASE = "kubernetes:helm.sh/v3:Release";
let cluster: LocalCluster;
let s: EngineStack;
let routesBin: string;
const onOutput = (line: string) => {
  if (process.env.LAB_DEBUG) process.stdout.write(line);
};
/** Figures for the report (printed, never asserted). */
const figure = (what: string, started: number) => process.stdout.write(`[istio] ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

interface K8sObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: { conditions?: { type: string; status: string }[]; podIP?: string };
}

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, "-o", "json"])) as T;
}

const changes = (summary: OpMap): OpMap =>
  Object.fromEntries(Object.entries(summary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0));

function labConfig(): LabConfig {
  const doc = parseYaml(fs.readFileSync(s.settingsFile, "utf8")) as { config: Record<string, unknown> };
  const get = (k: string) => doc.config[`kubeadm-istio-lab:${k}`];
  return parseLabConfig({
    cluster: get("cluster"), istio: get("istio"), bookinfo: get("bookinfo"), traffic: get("traffic"),
    hasSshPrivateKey: false, hasKubeconfig: false,
  });
}

async function runTool(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  try {
    const r = await run(file, args, { timeoutMs: 300_000, env: env ?? process.env });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    if (e instanceof CommandError) return { code: e.exitCode, out: e.stdout + e.stderr };
    throw e;
  }
}

const istioModuleVersion = (): string => {
  const m = /^ISTIO_MODULE_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(REPO_ROOT, "scripts", "versions.env"), "utf8"));
  if (m === null) throw new Error("no ISTIO_MODULE_VERSION in scripts/versions.env");
  return m[1];
};

const istiodMetrics = async (): Promise<string> => (await fetch(`${cluster.env.LAB_ISTIOD_MONITORING_URL}/metrics`)).text();

/** How many objects of a resource istiod's validating webhook has passed (its galley_validation_passed). */
async function validationPassed(resource: string): Promise<number> {
  return [...(await istiodMetrics()).matchAll(/^galley_validation_passed(?:_total)?\{([^}]*)\} (\d+)/gm)]
    .filter((m) => m[1].includes(`resource="${resource}"`))
    .reduce((n, m) => n + Number(m[2]), 0);
}

beforeAll(async () => {
  const started = Date.now();
  cluster = await startCluster({ istio: true, timeoutMs: 180_000 });
  figure("cluster with chart repository and istiod started", started);
  s = await createStack(`istio-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath, reachabilityTimeoutSeconds: 3 };
    c.istio = {
      ...(c.istio as object),
      version: cluster.env.LAB_ISTIO_CHART_VERSION,
      chartRepository: cluster.env.LAB_ISTIO_CHARTS_URL,
      externalIstiod: { webhookUrl: cluster.env.LAB_ISTIOD_WEBHOOK_URL },
    };
  }, { realIstio: true });
  // npm run routes' Go command, built once as scripts/go-test.sh builds the envoy module (same cache).
  routesBin = path.join(s.stateDir, "routes");
  await run("go", ["build", "-trimpath", "-o", routesBin, "./cmd/routes"], {
    cwd: path.join(REPO_ROOT, "envoy"),
    env: { ...process.env, GOTOOLCHAIN: "local", CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" },
    timeoutMs: 900_000,
  });
}, 1_200_000);

afterAll(async () => {
  await s?.dispose();
  await cluster?.stop();
});

describe("Istio's charts through the engine", () => {
  test("up installs base, istiod and the gateway from the chart repository on 127.0.0.1, then Bookinfo", async () => {
    const started = Date.now();
    const up = await s.stack.up({ onOutput });
    figure("first up (three charts, Bookinfo, routes)", started);
    expect(up.summary.result).toBe("succeeded");
    const version = cluster.env.LAB_ISTIO_CHART_VERSION;

    const state = (await s.stack.exportStack()).deployment as { resources: { type: string; outputs?: { status?: Record<string, unknown> } }[] };
    const releases = state.resources.filter((r) => r.type === RELEASE).map((r) => r.outputs?.status ?? {});
    expect(releases.map((st) => [st.name, st.namespace, st.chart, st.version, st.status]).sort()).toEqual([
      ["istio-base", ISTIO_NAMESPACE, "base", version, "deployed"],
      ["istio-ingressgateway", INGRESS_NAMESPACE, "gateway", version, "deployed"],
      ["istiod", ISTIO_NAMESPACE, "istiod", version, "deployed"],
    ]);
    // The archives came from the cluster's repository server.
    const served = fs.readFileSync(path.join(cluster.dir, "logs", "istio-charts.log"), "utf8");
    for (const chart of ["base", "istiod", "gateway"]) expect(served).toContain(`GET /${chart}-${version}.tgz`);

    // Istio's CRDs come from the base chart (not the rig's open-schema stand-ins) and are Established.
    const crds = (await getJson<{ items: K8sObject[] }>(["get", "customresourcedefinitions"])).items.filter((c) => c.metadata.name.endsWith(".istio.io"));
    const names = crds.map((c) => c.metadata.name);
    expect(names).toEqual(expect.arrayContaining(["virtualservices.networking.istio.io", "destinationrules.networking.istio.io", "gateways.networking.istio.io", "peerauthentications.security.istio.io"]));
    for (const crd of crds) {
      const fromRig = crd.metadata.labels?.["app.kubernetes.io/part-of"] === "kubeadm-istio-lab-test";
      expect({ crd: crd.metadata.name, release: crd.metadata.annotations?.["meta.helm.sh/release-name"], fromRig, established: crd.status?.conditions?.find((c) => c.type === "Established")?.status })
        .toEqual({ crd: crd.metadata.name, release: "istio-base", fromRig: false, established: "True" });
    }
    process.stdout.write(`[istio] ${crds.length} Istio CRDs from the base chart, all Established\n`);

    // The ingress gateway from the gateway chart, on the configured NodePort.
    const svc = await getJson<K8sObject>(["get", "service", "istio-ingressgateway", "-n", INGRESS_NAMESPACE]);
    expect(svc.spec.type).toBe("NodePort");
    expect((svc.spec.ports as { name: string; nodePort?: number }[]).find((p) => p.name === "http2")?.nodePort).toBe(labConfig().istio.ingressNodePort);
    const gw = await getJson<K8sObject>(["get", "deployment", "istio-ingressgateway", "-n", INGRESS_NAMESPACE]);
    expect(gw.status?.conditions?.find((c) => c.type === "Available")?.status).toBe("True");
  });

  test("a chart version change previews as an in-place update of the Istio releases, version only, nothing else", async () => {
    // A second version of the same chart sources in the cluster's repository, as a new Istio release would be.
    const next = `${cluster.env.LAB_ISTIO_CHART_VERSION}.1`;
    const mod = JSON.parse((await run("go", ["mod", "download", "-json", `istio.io/istio@${istioModuleVersion()}`], { cwd: os.tmpdir(), env: { ...process.env, GOTOOLCHAIN: "local" } })).stdout) as { Dir: string };
    await run(toolPath("istio-charts"), ["package", "--src", path.join(mod.Dir, "manifests", "charts"), "--version", next, "--out", path.join(cluster.dir, "charts")]);
    await s.stack.setConfig("kubeadm-istio-lab:istio.version", { value: next }, true);
    try {
      const events: AutomationEvent[] = [];
      const preview = await s.stack.preview({ onOutput, onEvent: (e) => events.push(e) });
      expect(changes(preview.changeSummary)).toEqual({ update: 3 });
      const updated = events.flatMap((e) => (e.resourcePreEvent?.metadata.op === "update" ? [e.resourcePreEvent.metadata] : []));
      expect(updated.map((m) => [m.type, m.urn.split("::").pop(), m.diffs]).sort()).toEqual([
        [RELEASE, "istio-istio-base", ["version"]],
        [RELEASE, "istio-istio-ingressgateway", ["version"]],
        [RELEASE, "istio-istiod", ["version"]],
      ]);
    } finally {
      await s.stack.setConfig("kubeadm-istio-lab:istio.version", { value: cluster.env.LAB_ISTIO_CHART_VERSION }, true);
    }
  });
});

describe("a real istiod on 127.0.0.1", () => {
  test("its validating webhook judged every Istio object the program applied", async () => {
    const vwc = await getJson<{ webhooks: { clientConfig: { url?: string; caBundle?: string }; failurePolicy: string }[] }>(["get", "validatingwebhookconfiguration", "istiod-default-validator"]);
    expect(vwc.webhooks[0].clientConfig.url).toBe(`${cluster.env.LAB_ISTIOD_WEBHOOK_URL}/validate`);
    // istiod patched in the CA of its serving certificate, and turned the policy to Fail once it served.
    expect(Buffer.from(vwc.webhooks[0].clientConfig.caBundle ?? "", "base64").toString()).toBe(fs.readFileSync(path.join(cluster.dir, "pki", "ca.crt"), "utf8"));
    expect(vwc.webhooks[0].failurePolicy).toBe("Fail");
    // istiod's own count of objects it passed, per kind: at least every object of the program.
    const counts = {
      virtualservices: await validationPassed("virtualservices"), destinationrules: await validationPassed("destinationrules"),
      gateways: await validationPassed("gateways"), peerauthentications: await validationPassed("peerauthentications"),
    };
    process.stdout.write(`[istio] istiod's webhook passed: ${JSON.stringify(counts)}\n`);
    expect(counts.virtualservices).toBeGreaterThanOrEqual(SERVICE_NAMES.length + 1);
    expect(counts.destinationrules).toBeGreaterThanOrEqual(SERVICE_NAMES.length);
    expect(counts.gateways).toBeGreaterThanOrEqual(1);
    expect(counts.peerauthentications).toBeGreaterThanOrEqual(1);
    expect(await istiodMetrics()).not.toMatch(/^galley_validation_failed(?:_total)?\{[^}]*\} [1-9]/m);
  });

  test("broken objects are refused by the API server with istiod's message, before the engine records them", async () => {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-webhook-"));
    const env = engineEnv(stateDir);
    fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
    const kubeconfig = fs.readFileSync(cluster.kubeconfigPath, "utf8");
    const split = (a: number, b: number) => ({
      hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: a }, { destination: { host: "reviews", subset: "v2" }, weight: b }] }],
    });
    const program = async () => {
      const provider = new k8s.Provider("local", { kubeconfig: pulumi.secret(kubeconfig) });
      const cr = (name: string, kind: string, spec: Record<string, unknown>) =>
        new k8s.apiextensions.CustomResource(name, { apiVersion: "networking.istio.io/v1", kind, metadata: { name, namespace: NS }, spec }, { provider });
      // Only Istio's validation knows these (the CRD schema allows them).
      cr("reviews-no-weight", "VirtualService", split(0, 0));
      cr("reviews-twice-v1", "DestinationRule", { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v1", labels: { version: "v2" } }] });
      // A subset field Istio's API does not have: the chart's CRD schema (Istio's own) names it.
      cr("reviews-unknown-field", "DestinationRule", { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" }, weight: 100 }] });
    };
    const stack = await LocalWorkspace.createOrSelectStack(
      { stackName: "broken", projectName: "istio-webhook", program },
      { envVars: env, pulumiHome: env.PULUMI_HOME, pulumiCommand: await pulumiCommand(), projectSettings: { name: "istio-webhook", runtime: "nodejs" } },
    );
    try {
      const error = await stack.up({ onOutput }).then(() => "", (e: unknown) => String(e));
      expect(error).toMatch(/admission webhook "validation\.istio\.io" denied the request: [^\n]*total destination weight = 0/);
      expect(error).toMatch(/admission webhook "validation\.istio\.io" denied the request: [^\n]*duplicate subset names: v1/);
      expect(error).toMatch(/reviews-unknown-field[^\n]*\.spec\.subsets\[0\]\.weight: field not declared in schema/);
      // None exists, in the cluster or in the engine's state.
      const left = await cluster.kubectl(["get", "virtualservices.networking.istio.io,destinationrules.networking.istio.io", "-n", NS, "-o", "name"]);
      expect(left).not.toMatch(/reviews-no-weight|reviews-twice-v1|reviews-unknown-field/);
      const recorded = ((await stack.exportStack()).deployment as { resources?: { urn: string }[] }).resources ?? [];
      expect(recorded.map((r) => r.urn).filter((u) => /reviews-no-weight|reviews-twice-v1|reviews-unknown-field/.test(u))).toEqual([]);
    } finally {
      await stack.workspace.removeStack("broken", { force: true }).catch(() => undefined);
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
    // Weights 90/20: this Istio takes weights as relative (it refuses only a total of 0), so its webhook
    // admits them; the program's config refuses them, and so does the policy pack (weights-sum-to-100).
    const before = await validationPassed("virtualservices");
    const ninetyTwenty = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "reviews-90-20", namespace: NS }, spec: split(90, 20) };
    const admitted = await cluster.kubectl(["apply", "--dry-run=server", "-f", "-"], { input: JSON.stringify(ninetyTwenty) });
    expect(admitted).toMatch(/reviews-90-20 created \(server dry run\)/);
    expect(await validationPassed("virtualservices")).toBe(before + 1);
  });

  test("every Bookinfo pod got istio-proxy and istio-init from istiod's injector, because of the namespace label", async () => {
    const ns = await getJson<K8sObject>(["get", "namespace", NS]);
    expect(ns.metadata.labels?.["istio-injection"]).toBe("enabled");
    const pods = (await getJson<{ items: (K8sObject & { spec: { containers: { name: string; image: string }[]; initContainers?: { name: string; image: string }[] } })[] }>(["get", "pods", "-n", NS])).items;
    expect(pods.length).toBe(6);
    const hub = labConfig().istio.hub;
    for (const pod of pods) {
      const init = (pod.spec.initContainers ?? []).map((c) => c.name);
      const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
      const proxy = all.find((c) => c.name === "istio-proxy");
      expect({ pod: pod.metadata.name, init: init.includes("istio-init"), proxy: proxy?.image, injected: pod.metadata.annotations?.["sidecar.istio.io/status"] !== undefined })
        .toEqual({ pod: pod.metadata.name, init: true, proxy: `${hub}/proxyv2:${cluster.env.LAB_ISTIO_CHART_VERSION}`, injected: true });
    }
    // With sidecars injected, istioctl analyze has nothing to say about the namespace (no IST0103 filter).
    const r = await runTool(toolPath("istioctl"), ["analyze", "--kubeconfig", cluster.kubeconfigPath, "-n", NS, "--output", "yaml"]);
    const findings = (parseYaml(r.out.slice(Math.max(0, r.out.indexOf("- ")))) ?? []) as { code: string; level: string }[];
    expect(Array.isArray(findings) ? findings.filter((f) => f.level === "Error" || f.level === "Warning") : r.out).toEqual([]);
  });
});

// The seed's scenarios: after each flip, what istiod sends a reviews sidecar equals `npm run routes`.
// [scenario, config key, value, VirtualServices it updates]
const scenarios: [string, string, string, number][] = [
  ["canary 90/10 (8.2), the stack as committed", "", "", 0],
  ["blue-green: all of reviews to v2 (8.1)", "traffic.reviews", JSON.stringify({ active: "v2" }), 1],
  ["canary 50/50 (8.2)", "traffic.reviews", JSON.stringify({ canary: "v2", weight: 50 }), 1],
  ["ratings delayed 2 s and reviews timeout 0.5 s (8.3)", "traffic", JSON.stringify({ ratings: { fault: { delay: { fixedDelay: "2s" } } }, reviews: { canary: "v2", weight: 50, timeout: "0.5s" } }), 2],
  ["iPhone User-Agent to v3 (4.3.1)", "traffic", JSON.stringify({ reviews: { headerRoutes: [{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }] } }), 2],
];

function setTraffic(key: string, value: string): void {
  const doc = parseYaml(fs.readFileSync(s.settingsFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
  const [root, ...rest] = key.split(".");
  if (rest.length === 0) {
    doc.config[`kubeadm-istio-lab:${root}`] = JSON.parse(value) as Record<string, unknown>;
  } else {
    const top = doc.config[`kubeadm-istio-lab:${root}`] ?? {};
    top[rest[0]] = JSON.parse(value);
    doc.config[`kubeadm-istio-lab:${root}`] = top;
  }
  fs.writeFileSync(s.settingsFile, stringify(doc));
}

/** The routes table without its title and client lines (the offline client is a made-up pod). */
const table = (out: string): string => out.split("\n").slice(2).join("\n").trim();

describe.each(scenarios)("istiod's routes: %s", (_, key, value, updates) => {
  test("the routes istiod sends a reviews sidecar agree with npm run routes, field by field", async () => {
    if (key !== "") {
      setTraffic(key, value);
      const up = await s.stack.up({ onOutput });
      expect(changes(up.summary.resourceChanges ?? {})).toEqual({ update: updates });
    }
    const file = path.join(s.stateDir, "routes.yaml");
    fs.writeFileSync(file, routesInput(labConfig()));
    const offline = await runTool(routesBin, ["--from", "reviews", file]);
    expect(offline.code).toBe(0);
    const pod = (await getJson<{ items: K8sObject[] }>(["get", "pods", "-n", NS, "-l", "app=reviews,version=v1"])).items[0];
    const args = ["--from", "reviews", "--istiod", cluster.env.LAB_ISTIOD_XDS_ADDRESS, "--pod", `${pod.metadata.name}=${pod.status?.podIP ?? ""}`, file];
    // istiod pushes a change a moment after the API server has it (debounce): ask until it agrees, or time out.
    const started = Date.now();
    let live = await runTool(routesBin, args);
    while (table(live.out) !== table(offline.out) && Date.now() - started < 30_000) {
      await new Promise((r) => setTimeout(r, 500));
      live = await runTool(routesBin, args);
    }
    expect({ code: live.code, routes: table(live.out) }).toEqual({ code: 0, routes: table(offline.out) });
    // istiod's config store (its /debug/configz) holds the VirtualService exactly as the API server does.
    const configz = (await (await fetch(`${cluster.env.LAB_ISTIOD_DEBUG_URL}/debug/configz`)).json()) as { kind: string; metadata: { name: string; namespace: string }; spec: unknown }[];
    const inIstiod = configz.find((c) => c.kind === "VirtualService" && c.metadata.name === "reviews" && c.metadata.namespace === NS);
    const inCluster = await getJson<K8sObject>(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS]);
    // istiod holds durations as protobuf Durations, written back as "0.500s" for "0.5s": compare the times.
    const times = (spec: unknown): unknown =>
      JSON.parse(JSON.stringify(spec), (_k, v: unknown) => (typeof v === "string" && /^\d+(\.\d+)?s$/.test(v) ? `${Number(v.slice(0, -1)) * 1000}ms` : v));
    expect(times(inIstiod?.spec)).toEqual(times(inCluster.spec));
  });
});

describe("destroy", () => {
  test("removes the releases, istiod's webhooks and the gateway; Istio's CRDs stay, as the chart marks them", async () => {
    const started = Date.now();
    const result = await s.stack.destroy({ onOutput });
    figure("destroy", started);
    expect(result.summary.result).toBe("succeeded");
    expect((await cluster.kubectl(["get", "secrets", "-A", "-l", "owner=helm", "-o", "name"])).trim()).toBe("");
    const webhooks = await cluster.kubectl(["get", "mutatingwebhookconfigurations,validatingwebhookconfigurations", "-o", "name"]);
    expect(webhooks).not.toMatch(/istio/);
    expect(await cluster.kubectl(["get", "deployments,services", "-A", "-o", "name"])).not.toMatch(/istio-ingressgateway|productpage/);
    const crds = (await getJson<{ items: K8sObject[] }>(["get", "customresourcedefinitions"])).items.filter((c) => c.metadata.name.endsWith(".istio.io"));
    for (const crd of crds) expect([crd.metadata.name, crd.metadata.annotations?.["helm.sh/resource-policy"]]).toEqual([crd.metadata.name, "keep"]);
  });
});
