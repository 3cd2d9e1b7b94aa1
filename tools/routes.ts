// What Envoy will do with a stack's routing, as computed by Istio's own control-plane code (the Go
// module in envoy/), and the scenario inputs of that module's tests. Both are rendered here from the
// program's pure builders (specs/routes.ts through tools/render.ts, specs/bookinfo.ts), never by hand.
//   npm run routes -- --stack local            per service: header routes, weighted split, timeout, retries, faults
//   npm run routes -- --scenario jason         the same for one of the test scenarios below
//   npm run routes -- --stack local --from reviews   as seen by another app's sidecar (default productpage)
//   npm run routes -- --stack local --yaml     only print the objects handed to the Go code
//   npm run routes -- --stack local --istiod 127.0.0.1:PORT [--pod NAME=IP]   the routes a running istiod
//                                              sends that sidecar (its plain-text xDS port), same table
//   ts-node tools/routes.ts --write-scenarios envoy/testdata   (scripts/go-test.sh does this)
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabConfig, parseLabConfig } from "../config/schema";
import { labelsOf, serviceSpec, workloads } from "../specs/bookinfo";
import { BOOKINFO_PORT, SERVICE_NAMES } from "../specs/catalogue";
import { renderIstioObjects, toYaml } from "./render";
import { listStacks, readStackConfig, stackArg } from "./stackConfig";
import { runTool } from "./cli";

const ROOT = path.resolve(__dirname, "..");
const ENVOY_DIR = path.join(ROOT, "envoy");

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

/**
 * Bookinfo as the Kubernetes API would show it once deployed: each Service (the program's own
 * spec, plus a cluster IP), one running Pod per Deployment with the Deployment's labels, and an
 * EndpointSlice per Service listing those pods, so each DestinationRule subset has endpoints.
 */
export function bookinfoClusterObjects(config: LabConfig): Obj[] {
  const ns = config.bookinfo.namespace;
  const all = workloads(config.bookinfo);
  const out: Obj[] = [];
  SERVICE_NAMES.forEach((service, s) => {
    out.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: service, namespace: ns, labels: labelsOf(service) },
      spec: { ...serviceSpec(service, config.bookinfo.nodePort), clusterIP: `10.96.100.${s + 10}` },
    });
    const pods = all.filter((w) => w.service === service).map((w, v) => ({ w, ip: `10.0.${s + 10}.${v + 10}` }));
    for (const { w, ip } of pods) {
      out.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: `${w.name}-0`, namespace: ns, labels: labelsOf(w.service, w.version) },
        spec: { containers: [{ name: w.service, image: w.image, ports: [{ containerPort: BOOKINFO_PORT, name: "http" }] }] },
        status: { phase: "Running", podIP: ip, podIPs: [{ ip }], conditions: [{ type: "Ready", status: "True" }] },
      });
    }
    out.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${service}-0`, namespace: ns, labels: { "kubernetes.io/service-name": service } },
      addressType: "IPv4",
      endpoints: pods.map(({ w, ip }) => ({
        addresses: [ip],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: `${w.name}-0`, namespace: ns },
      })),
      ports: [{ name: "http", port: BOOKINFO_PORT, protocol: "TCP" }],
    });
  });
  return out;
}

/** Everything the Go code reads: the Istio objects the program registers, then the cluster's objects. */
export function routesInput(config: LabConfig, istio: object[] = renderIstioObjects(config), cluster: object[] = bookinfoClusterObjects(config)): string {
  return toYaml([...istio, ...cluster]);
}

function configOf(traffic: unknown): LabConfig {
  return parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/x" }, traffic, hasSshPrivateKey: false, hasKubeconfig: false });
}

interface Scenario {
  /** The stack config's `traffic` value. */
  traffic: unknown;
  /** Breaks the rendered objects on purpose (negative cases the config schema would refuse). */
  breakObjects?: (objects: Obj[]) => Obj[];
  /** Breaks the cluster's objects on purpose. */
  breakCluster?: (objects: Obj[]) => Obj[];
}

/** The seed's scenarios and the program's other routing features, as stack config (envoy/scenarios_test.go asserts on each). */
export const SCENARIOS: Record<string, Scenario> = {
  "all-v1": { traffic: undefined },
  "blue-green-v1": { traffic: { reviews: { active: "v1" } } },
  "blue-green-v2": { traffic: { reviews: { active: "v2" } } },
  "canary-10": { traffic: { reviews: { canary: "v2", weight: 10 } } },
  "canary-50": { traffic: { reviews: { canary: "v2", weight: 50 } } },
  "canary-100": { traffic: { reviews: { canary: "v2", weight: 100 } } },
  "delay-timeout": { traffic: { ratings: { fault: { delay: { fixedDelay: "2s" } } }, reviews: { active: "v2", timeout: "0.5s" } } },
  "iphone": { traffic: { reviews: { headerRoutes: [{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }] } } },
  "jason": {
    traffic: { reviews: { canary: "v3", weight: 10, timeout: "1s", headerRoutes: [{ header: "end-user", exact: "jason", version: "v2" }] } },
  },
  "abort": { traffic: { ratings: { fault: { abort: { percent: 10, httpStatus: 503 } } } } },
  "retries": { traffic: { reviews: { retries: { attempts: 3, perTryTimeout: "2s", retryOn: "5xx,connect-failure" } } } },
  // Negative cases for the dangling-reference check.
  "undefined-subset": {
    traffic: { reviews: { canary: "v2", weight: 10 } },
    breakObjects: (objects) =>
      objects.map((o) =>
        o.kind === "DestinationRule" && o.metadata.name === "reviews"
          ? { ...o, spec: { ...(o.spec as object), subsets: (o.spec as { subsets: { name: string }[] }).subsets.filter((s) => s.name !== "v2") } }
          : o,
      ),
  },
  "seed-no-destinationrules": {
    traffic: { reviews: { active: "v2" } },
    breakObjects: (objects) => objects.filter((o) => o.kind !== "DestinationRule"),
  },
  "no-endpoints": {
    traffic: { reviews: { canary: "v2", weight: 10 } },
    // reviews-v2 is not running: its subset exists, with no pod behind it.
    breakCluster: (objects) =>
      objects
        .filter((o) => !(o.kind === "Pod" && o.metadata.name === "reviews-v2-0"))
        .map((o) =>
          o.kind === "EndpointSlice" && o.metadata.name === "reviews-0"
            ? { ...o, endpoints: (o.endpoints as { targetRef: { name: string } }[]).filter((e) => e.targetRef.name !== "reviews-v2-0") }
            : o,
        ),
  },
};

function scenarioInput(s: Scenario): string {
  const config = configOf(s.traffic);
  const istio = renderIstioObjects(config) as Obj[];
  const cluster = bookinfoClusterObjects(config);
  return routesInput(config, s.breakObjects?.(istio) ?? istio, s.breakCluster?.(cluster) ?? cluster);
}

/** Writes envoy/testdata/<scenario>.yaml for every scenario, and stack-<name>.yaml for every committed stack file. */
export function writeScenarios(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (f.endsWith(".yaml")) fs.rmSync(path.join(dir, f));
  const written: string[] = [];
  const write = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, `${name}.yaml`), `# Generated by tools/routes.ts from the program's builders; do not edit.\n${text}`);
    written.push(name);
  };
  for (const [name, s] of Object.entries(SCENARIOS)) write(name, scenarioInput(s));
  for (const stack of committedStacks()) write(`stack-${stack}`, routesInput(readStackConfig(ROOT, stack)));
  return written;
}

/**
 * The stacks whose files git tracks: tests and tools create short-lived stack files (Pulumi.engine-*.yaml
 * and others) in the root while they run, which must not be read half-way. Outside a git checkout: all.
 */
function committedStacks(): string[] {
  const git = spawnSync("git", ["ls-files", "--", "Pulumi.*.yaml"], { cwd: ROOT, encoding: "utf8" });
  const stacks =
    git.status === 0
      ? git.stdout.split("\n").map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f.trim())?.[1]).filter((s): s is string => s !== undefined)
      : listStacks(ROOT);
  return stacks.filter((s) => fs.existsSync(path.join(ROOT, `Pulumi.${s}.yaml`)));
}

function main(argv: string[]): number {
  const w = argv.indexOf("--write-scenarios");
  if (w >= 0) {
    const dir = path.resolve(argv[w + 1] ?? path.join(ENVOY_DIR, "testdata"));
    const names = writeScenarios(dir);
    process.stderr.write(`wrote ${names.length} inputs to ${path.relative(process.cwd(), dir) || "."}: ${names.join(", ")}\n`);
    return 0;
  }
  const s = argv.indexOf("--scenario");
  const scenario = s >= 0 ? argv[s + 1] : undefined;
  if (scenario !== undefined && !(scenario in SCENARIOS)) {
    process.stderr.write(`unknown scenario ${scenario}; scenarios: ${Object.keys(SCENARIOS).join(", ")}\n`);
    return 64;
  }
  const stack = stackArg(argv) ?? "dev";
  const input = scenario !== undefined ? scenarioInput(SCENARIOS[scenario]) : routesInput(readStackConfig(ROOT, stack));
  const title = scenario !== undefined ? ["--title", `Envoy routes for scenario ${scenario}`] : ["--title", `Envoy routes for stack ${stack}`];
  if (argv.includes("--yaml")) {
    process.stdout.write(input);
    return 0;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "routes-"));
  const file = path.join(tmp, `${stack}.yaml`);
  fs.writeFileSync(file, input);
  try {
    const extra = ["--from", "--istiod", "--pod"].flatMap((flag) => {
      const i = argv.indexOf(flag);
      return i >= 0 ? [flag, argv[i + 1]] : [];
    });
    const run = spawnSync("go", ["run", "./cmd/routes", ...title, ...extra, file], {
      cwd: ENVOY_DIR,
      stdio: "inherit",
      env: { GOTOOLCHAIN: "local", ...process.env },
    });
    if (run.error) {
      process.stderr.write(`routes: cannot run go (${run.error.message}); it needs Go as in envoy/go.mod and the Go module proxy (first run compiles Istio: minutes)\n`);
      return 1;
    }
    return run.status ?? 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runTool("routes", () => main(process.argv.slice(2)));
}
