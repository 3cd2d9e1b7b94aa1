// Benchmark (not a test): what a routing flip costs through the Pulumi CLI, against a one-resource
// TypeScript program run the same way (the engine's floor), and how it grows with the number of services.
// Every program is a project on disk run by `pulumi` with the repository's Pulumi.yaml runtime options and
// tsconfig.json, in the environment a user has, a file backend each, on
// one local cluster. The operations of all projects are interleaved round by round, and each ratio is
// taken between runs of the same round, so that it compares runs made side by side under the same load.
//   npm run bench -- [--runs 5] [--scale 4,200] [--breakdown] [--compare-ts] [--compare-parallel-diff] [--compare-sdk]
// --breakdown   after the rounds, one traced flip of each project: where its time goes
// --compare-ts  also every project run by ts-node (Pulumi.yaml `typescript: true`, transpile-only with the
//               project's cached transpiler: the engine's path before tools/ts-register.js), on the same
//               stacks, from a copy of the project folder
// --compare-parallel-diff  also the program and the largest synthetic program with PULUMI_PARALLEL_DIFF=true
// --compare-sdk also the synthetic programs with two per-resource costs of the Node SDK removed
//               (tools/bench-sdk-trimmed.js): what an upstream change would buy, not a user's path
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { parseLabConfig } from "../config/schema";
import { buildVirtualService } from "../specs/routes";
import { kubectlPath, run, startCluster, LocalCluster, REPO_ROOT, toolPath } from "../tests/engine/support/cluster";
import { createStack, engineEnv, PROJECT } from "../tests/engine/support/pulumi";
import { UsageError, runTool } from "./cli";
import { CpuSampler } from "./proc-cpu";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const RUNS = Number(arg("runs", "5"));
const SCALES = arg("scale", "4,200").split(",").filter((s) => s !== "" && s !== "none").map(Number);
const BREAKDOWN = process.argv.includes("--breakdown");
const COMPARE_TS = process.argv.includes("--compare-ts");
const COMPARE_PARALLEL_DIFF = process.argv.includes("--compare-parallel-diff");
const COMPARE_SDK = process.argv.includes("--compare-sdk");

function stamp(msg: string): void {
  process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(" ");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A stack the benchmark flips: its project folder, environment, config key and weights. */
interface BenchStack {
  dir: string;
  name: string;
  env: Record<string, string>;
  /** Config key whose value is the flipped weight, set with --path for the lab's traffic.reviews.weight. */
  weightKey: string;
  pathKey: boolean;
  /** Weight of the last successful up, and the weight in config now. */
  applied: number;
  configured: number;
  dispose(): Promise<void>;
}

/** What a row of the report measures: a stack, run with extra environment or from another folder (a variant). */
interface Project {
  label: string;
  stack: BenchStack;
  env: Record<string, string>;
  /** A project folder other than the stack's: the same program and stack with other runtime options. */
  dir?: string;
}

/** The environment of a user's engine run, with the tests' backend and plugins (and the CLI's debug flags: --event-log). */
function userEnv(stateDir: string): Record<string, string> {
  return { ...engineEnv(stateDir), PULUMI_DEBUG_COMMANDS: "true" };
}

async function pulumi(p: Project, args: string[]): Promise<string> {
  const { stdout } = await run(toolPath("pulumi"), [...args, "--stack", p.stack.name, "--non-interactive"], {
    cwd: p.dir ?? p.stack.dir,
    env: { ...process.env, ...p.env },
    timeoutMs: 20 * 60_000,
  });
  return stdout;
}

async function setWeight(p: Project, weight: number): Promise<void> {
  if (p.stack.configured === weight) return;
  await pulumi(p, ["config", "set", ...(p.stack.pathKey ? ["--path"] : []), p.stack.weightKey, String(weight)]);
  p.stack.configured = weight;
}

const other = (weight: number) => (weight === 10 ? 50 : 10);

/** The lab's program on a stack made from Pulumi.local.yaml, pointed at the benchmark's cluster. */
async function labStack(cluster: LocalCluster): Promise<BenchStack> {
  const s = await createStack(`bench-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath };
  });
  // Pulumi.local.yaml routes reviews 90/10.
  return { dir: REPO_ROOT, name: s.name, env: userEnv(s.stateDir), weightKey: `${PROJECT}:traffic.reviews.weight`, pathKey: true, applied: 10, configured: 10, dispose: () => s.dispose() };
}

/** A TypeScript project in a temp folder with the repository's runtime options, tsconfig and packages. */
async function scratchStack(name: string, program: string, kubeconfigPath: string): Promise<BenchStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `lab-bench-${name}-`));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), stringify({ name, runtime: repoRuntime(), main: "index.ts" }));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name, private: true, main: "index.ts" }));
  // `extends` keeps every compiler and ts-node option of the repository's tsconfig.json.
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ extends: path.join(REPO_ROOT, "tsconfig.json"), include: ["index.ts"] }));
  fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(path.join(dir, "index.ts"), program);
  const env = userEnv(path.join(dir, ".state"));
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const s: BenchStack = {
    dir,
    name: "bench",
    env,
    weightKey: `${name}:weight`,
    pathKey: false,
    applied: 10,
    configured: 10,
    // The cluster goes with the benchmark: no destroy, whose hundreds of deletes would only cost time.
    dispose: () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true })),
  };
  const p: Project = { label: name, stack: s, env };
  await run(toolPath("pulumi"), ["stack", "init", "bench", "--non-interactive"], { cwd: dir, env: { ...process.env, ...env } });
  await pulumi(p, ["config", "set", `${name}:kubeconfigPath`, kubeconfigPath]);
  await pulumi(p, ["config", "set", `${name}:weight`, "10"]);
  return s;
}

interface Runtime {
  name: string;
  options: { typescript?: boolean; nodeargs?: string };
}

/** The repository's runtime options, with the loader's path made absolute so that they work from any folder. */
function repoRuntime(): Runtime {
  const runtime = (parse(fs.readFileSync(path.join(REPO_ROOT, "Pulumi.yaml"), "utf8")) as { runtime: Runtime }).runtime;
  const nodeargs = runtime.options.nodeargs?.replace("./tools/", `${path.join(REPO_ROOT, "tools")}/`);
  return { ...runtime, options: { ...runtime.options, ...(nodeargs === undefined ? {} : { nodeargs }) } };
}

/**
 * A copy of a project folder run by ts-node: every entry a symlink to the original (same program, stack
 * config and state), but a Pulumi.yaml with `typescript: true` and no loader.
 */
function tsNodeVariant(dir: string): string {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "lab-bench-ts-node-"));
  for (const entry of fs.readdirSync(dir)) {
    if (entry !== "Pulumi.yaml") fs.symlinkSync(path.join(dir, entry), path.join(copy, entry));
  }
  const project = parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { runtime: Runtime };
  fs.writeFileSync(path.join(copy, "Pulumi.yaml"), stringify({ ...project, runtime: { name: "nodejs", options: { typescript: true } } }));
  return copy;
}

/** The engine's floor: one Kubernetes provider and one VirtualService, whose weights follow config. */
const ONE_RESOURCE = `import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
const weight = config.requireNumber("weight");
const provider = new k8s.Provider("local", { kubeconfig: pulumi.secret(fs.readFileSync(config.require("kubeconfigPath"), "utf8")) });
const destination = (subset: string, w: number) => ({ destination: { host: "reviews", subset }, weight: w });
new k8s.apiextensions.CustomResource("reviews", {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "bench-one", namespace: "default" },
  spec: { hosts: ["reviews"], http: [{ route: [destination("v1", 100 - weight), destination("v2", weight)] }] },
}, { provider });
`;

/** `services` synthetic services (a DestinationRule and a VirtualService each, by the program's route builders). */
function syntheticProgram(services: number): string {
  const repo = (file: string) => JSON.stringify(path.join(REPO_ROOT, file));
  return `import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { parseLabConfig } from ${repo("config/schema")};
import { buildDestinationRule, buildVirtualService } from ${repo("specs/routes")};

const config = new pulumi.Config();
const weight = config.requireNumber("weight");
const canary = (w: number) =>
  parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/k" }, traffic: { reviews: { canary: "v2", weight: w } }, hasSshPrivateKey: false, hasKubeconfig: false }).traffic.reviews;
const provider = new k8s.Provider("local", { kubeconfig: pulumi.secret(fs.readFileSync(config.require("kubeconfigPath"), "utf8")) });
const ns = new k8s.core.v1.Namespace("bench", { metadata: { name: "bench-${services}" } }, { provider });
// Config is parsed once, as the program parses it: two routings, the flipped one and the rest's.
const [flipped, steady] = [canary(weight), canary(10)];
for (let i = 0; i < ${services}; i++) {
  const host = \`svc-\${i}\`;
  // Only the first service's weight follows config: a flip is one update among ${services} services.
  const vs = buildVirtualService(host, i === 0 ? flipped : steady, "bench-${services}");
  const dr = buildDestinationRule(host, "bench-${services}", ["v1", "v2"]);
  for (const o of [dr, vs]) {
    new k8s.apiextensions.CustomResource(\`\${o.kind}-\${host}\`, { apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, spec: o.spec }, { provider, dependsOn: [ns] });
  }
}
`;
}

/** One span of an OTLP JSON trace (`pulumi --otel-traces file://...`), as far as the breakdown reads it. */
interface Span {
  service: string;
  name: string;
  start: number;
  end: number;
}

interface OtlpLine {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: { name: string; startTimeUnixNano: string; endTimeUnixNano: string }[] }[];
  }[];
}

function spansOf(file: string): Span[] {
  const out: Span[] = [];
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    for (const rs of (JSON.parse(line) as OtlpLine).resourceSpans ?? []) {
      const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "?";
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          out.push({ service, name: s.name, start: Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000, end: Number(BigInt(s.endTimeUnixNano) / 1000n) / 1000 });
        }
      }
    }
  }
  return out;
}

/** A process of an engine run, named for the report: the program's node process apart from other node processes. */
function processLabel(argv: readonly string[], comm: string): string {
  const name = argv.length > 0 ? path.basename(argv[0]) : comm;
  if (name === "pulumi") return "pulumi (CLI and engine)";
  if (name !== "node") return name;
  return argv.some((a) => a.includes(path.join("@pulumi", "pulumi", "cmd", "run"))) ? "node: the program" : "node: other";
}

/** Samples the CPU of the engine run's processes, and of the cluster's API server and etcd. */
function cpuSampler(cluster: LocalCluster): CpuSampler {
  return new CpuSampler(processLabel, { watch: { "kube-apiserver": cluster.pids["kube-apiserver"], etcd: cluster.pids.etcd } });
}

/** One `up` of `p` with an OpenTelemetry trace, reduced to where its time went (docs/benchmarks.md reads this). */
async function breakdown(p: Project, what: string, cluster: LocalCluster): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-bench-trace-"));
  const file = path.join(dir, "trace.json");
  try {
    const start = Date.now();
    const events = path.join(dir, "events.jsonl");
    const cpu = cpuSampler(cluster);
    try {
      await pulumi(p, ["up", "--yes", "--skip-preview", "--otel-traces", `file://${file}`, "--event-log", events]);
    } finally {
      // Which process is busy: on 2 cores, the one whose CPU nears the wall time sets the pace.
      const busy = cpu.stop();
      stamp(`  CPU s by process: ${busy.filter(([, s]) => s >= 0.01).map(([l, s]) => `${l} ${s.toFixed(2)}`).join(", ")}`);
    }
    const wall = Date.now() - start;
    const spans = spansOf(file);
    const t0 = Math.min(...spans.map((s) => s.start));
    const first = (name: string) => spans.filter((s) => s.name === name).sort((a, b) => a.start - b.start)[0];
    const at = (s: Span | undefined) => (s === undefined ? "-" : `${((s.start - t0) / 1000).toFixed(2)}–${((s.end - t0) / 1000).toFixed(2)} s`);
    stamp(`${what}: ${(wall / 1000).toFixed(2)} s wall (load ${loadavg()})`);
    for (const name of ["time-to-first-print", "pulumi-plan", "run-program", "locateModule", "execNodejs"]) stamp(`  ${name.padEnd(44)} ${at(first(name))}`);
    const registrations = spans.filter((s) => s.service === "pulumi-cli" && s.name.endsWith("ResourceMonitor/RegisterResource"));
    if (registrations.length > 0) {
      stamp(`  ${`RegisterResource × ${registrations.length}`.padEnd(44)} first at ${((Math.min(...registrations.map((s) => s.start)) - t0) / 1000).toFixed(2)} s, last ends ${((Math.max(...registrations.map((s) => s.end)) - t0) / 1000).toFixed(2)} s`);
    }
    // Provider calls by method: how many, their summed and longest time (the engine runs some at once).
    const calls = new Map<string, Span[]>();
    for (const s of spans.filter((x) => x.service === "pulumi-cli" && x.name.includes("ResourceProvider/"))) {
      const method = s.name.slice(s.name.lastIndexOf("/") + 1);
      calls.set(method, [...(calls.get(method) ?? []), s]);
    }
    for (const [method, list] of [...calls].sort((a, b) => b[1].length - a[1].length)) {
      const total = list.reduce((n, s) => n + s.end - s.start, 0);
      const longest = list.reduce((m, s) => (s.end - s.start > m.end - m.start ? s : m));
      stamp(`  provider ${`${method} × ${list.length}`.padEnd(35)} ${(total / 1000).toFixed(2)} s summed, longest ${((longest.end - longest.start) / 1000).toFixed(2)} s`);
    }
    // The slowest steps by resource, from the event log (whole seconds: it names what takes seconds).
    const began = new Map<string, number>();
    const steps: [string, string, number][] = [];
    for (const line of fs.readFileSync(events, "utf8").split("\n").filter((l) => l.trim() !== "")) {
      const e = JSON.parse(line) as { timestamp: number; resourcePreEvent?: { metadata: { urn: string; op: string } }; resOutputsEvent?: { metadata: { urn: string; op: string } } };
      if (e.resourcePreEvent) began.set(e.resourcePreEvent.metadata.urn, e.timestamp);
      const done = e.resOutputsEvent?.metadata;
      if (done && began.has(done.urn) && done.op !== "same") steps.push([done.op, done.urn.split("::").slice(-2).join(" "), e.timestamp - (began.get(done.urn) ?? e.timestamp)]);
    }
    for (const [op, what, seconds] of steps.sort((a, b) => b[2] - a[2]).slice(0, 5)) stamp(`  ${op} ${what}: ${seconds} s`);
    return wall;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface Row {
  project: string;
  op: string;
  runs: number[];
}

async function timed(row: Row, body: () => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  await body();
  row.runs.push(Number(process.hrtime.bigint() - start) / 1e6);
}

function canaryOf(weight: number) {
  return parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/k" }, traffic: { reviews: { canary: "v2", weight } }, hasSshPrivateKey: false, hasKubeconfig: false }).traffic.reviews;
}

const OPS = ["preview of a flip", "up of a flip", "no-op up"] as const;

async function main(): Promise<void> {
  if (!Number.isInteger(RUNS) || RUNS < 1 || SCALES.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError("usage: npm run bench -- [--runs N] [--scale 4,200|none] [--breakdown] [--compare-ts] [--compare-parallel-diff] [--compare-sdk]");
  }
  const loadAtStart = loadavg();
  stamp(`load average at start (1, 5, 15 min): ${loadAtStart}`);
  stamp(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "lab-bench-files-"));
  const cluster = await startCluster();
  const stacks: BenchStack[] = [];
  const projects: Project[] = [];
  const firstUps: Row[] = [];
  const variantDirs: string[] = [];
  const rows: Row[] = [];
  /** Pairs whose ratio the report prints: [numerator, denominator]. */
  const pairs: [string, string][] = [["program", "one resource"]];
  try {
    const lab = await labStack(cluster);
    stacks.push(lab);
    const one = await scratchStack("bench-one", ONE_RESOURCE, cluster.kubeconfigPath);
    stacks.push(one);
    projects.push({ label: "program", stack: lab, env: lab.env }, { label: "one resource", stack: one, env: one.env });
    const synthetic: BenchStack[] = [];
    for (const n of SCALES) {
      const s = await scratchStack(`bench-s${n}`, syntheticProgram(n), cluster.kubeconfigPath);
      stacks.push(s);
      synthetic.push(s);
      projects.push({ label: `${n} services`, stack: s, env: s.env });
    }
    const [small, large] = [Math.min(...SCALES), Math.max(...SCALES)];
    if (SCALES.length >= 2) pairs.push([`${large} services`, `${small} services`]);
    if (COMPARE_TS) {
      const bases: [string, BenchStack][] = [["program", lab], ["one resource", one], ...SCALES.map((n, k): [string, BenchStack] => [`${n} services`, synthetic[k]])];
      for (const [base, s] of bases) {
        const dir = tsNodeVariant(s.dir);
        variantDirs.push(dir);
        projects.push({ label: `${base}, ts-node`, stack: s, env: s.env, dir });
        pairs.push([`${base}, ts-node`, base]);
      }
      pairs.push(["program, ts-node", "one resource, ts-node"]);
      if (SCALES.length >= 2) pairs.push([`${large} services, ts-node`, `${small} services, ts-node`]);
    }
    if (COMPARE_PARALLEL_DIFF) {
      const withLarge: [string, BenchStack][] = [["program", lab], ...(SCALES.length > 0 ? [[`${large} services`, synthetic[SCALES.indexOf(large)]] as [string, BenchStack]] : [])];
      for (const [base, s] of withLarge) {
        projects.push({ label: `${base}, parallel diff`, stack: s, env: { ...s.env, PULUMI_PARALLEL_DIFF: "true" } });
        pairs.push([`${base}, parallel diff`, base]);
      }
    }

    if (COMPARE_SDK) {
      const trimmed = { NODE_OPTIONS: `--require ${path.join(REPO_ROOT, "tools", "bench-sdk-trimmed.js")}` };
      SCALES.forEach((n, k) => {
        projects.push({ label: `${n} services, SDK trimmed`, stack: synthetic[k], env: { ...synthetic[k].env, ...trimmed } });
        pairs.push([`${n} services, SDK trimmed`, `${n} services`]);
      });
      if (SCALES.length >= 2) pairs.push([`${large} services, SDK trimmed`, `${small} services, SDK trimmed`]);
    }

    for (const s of stacks) {
      const p = projects.find((x) => x.stack === s && x.env === s.env && x.dir === undefined) as Project;
      stamp(`first up: ${p.label}`);
      const first: Row = { project: p.label, op: "first up", runs: [] };
      // The program's first up is traced: where its time goes is part of the report.
      if (s === lab) first.runs.push(await breakdown(p, "program: first up", cluster));
      else await timed(first, () => pulumi(p, ["up", "--yes", "--skip-preview"]));
      firstUps.push(first);
    }
    const row = (project: string, op: string): Row => {
      let r = rows.find((x) => x.project === project && x.op === op);
      if (!r) rows.push((r = { project, op, runs: [] }));
      return r;
    };
    // CPU seconds of each process of a flip's up, by project and process: on 2 cores the engine run is
    // CPU-bound, so what grows with the mesh is read here rather than in wall times.
    // One map per run: a process that shows up in some runs only counts 0 in the others.
    const cpu = new Map<string, Map<string, number>[]>();
    const loads: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      loads.push(os.loadavg()[0]);
      // Each round starts with a different project, so that none always runs first or last.
      const order = projects.map((_, k) => projects[(k + i) % projects.length]);
      for (const p of order) {
        await setWeight(p, other(p.stack.applied));
        await timed(row(p.label, "preview of a flip"), () => pulumi(p, ["preview"]));
      }
      for (const p of order) {
        await setWeight(p, other(p.stack.applied));
        const sampler = cpuSampler(cluster);
        try {
          await timed(row(p.label, "up of a flip"), () => pulumi(p, ["up", "--yes", "--skip-preview"]));
        } finally {
          cpu.set(p.label, [...(cpu.get(p.label) ?? []), new Map(sampler.stop())]);
        }
        p.stack.applied = p.stack.configured;
      }
      for (const p of order) await timed(row(p.label, "no-op up"), () => pulumi(p, ["up", "--yes", "--skip-preview"]));
      await timed(row("kubectl", "apply of the same VirtualService"), async () => {
        const file = path.join(work, "reviews.yaml");
        fs.writeFileSync(file, stringify(buildVirtualService("reviews", canaryOf(i % 2 ? 10 : 50), "default")));
        await run(kubectlPath(), ["--kubeconfig", cluster.kubeconfigPath, "apply", "-f", file]);
      });
      stamp(`round ${i + 1}/${RUNS} done (load ${loadavg()})`);
    }
    if (BREAKDOWN) {
      // A traced flip of each project, after the rounds so that tracing costs none of them.
      for (const p of projects) {
        await setWeight(p, other(p.stack.applied));
        await breakdown(p, `${p.label}: up of a flip`, cluster);
        p.stack.applied = p.stack.configured;
      }
    }

    const all = [...firstUps, ...rows];
    const width = Math.max(...all.map((r) => `${r.project}: ${r.op}`.length));
    console.log(`\nload average (1, 5, 15 min) at start: ${loadAtStart}; 1-min load at each round: ${loads.map((l) => l.toFixed(1)).join(", ")}; at the end: ${loadavg()}\n`);
    console.log(`| ${"operation".padEnd(width)} | runs | min (s) | median (s) |`);
    console.log(`| ${"-".repeat(width)} | ---: | ------: | ---------: |`);
    for (const r of all) {
      console.log(`| ${`${r.project}: ${r.op}`.padEnd(width)} | ${String(r.runs.length).padStart(4)} | ${(Math.min(...r.runs) / 1000).toFixed(2).padStart(7)} | ${(median(r.runs) / 1000).toFixed(2).padStart(10)} |`);
    }
    const cpuMedian = (runs: Map<string, number>[], label: string) => median(runs.map((r) => r.get(label) ?? 0));
    const labels = [...new Set([...cpu.values()].flatMap((runs) => runs.flatMap((r) => [...r.keys()])))]
      .map((l): [string, number] => [l, Math.max(...[...cpu.values()].map((runs) => cpuMedian(runs, l)))])
      .filter(([, most]) => most >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([l]) => l);
    console.log(`\nCPU seconds by process in an up of a flip (median of ${RUNS}; sampled from /proc, lower bounds):\n`);
    console.log(`| project | ${labels.join(" | ")} | all |`);
    console.log(`| ------- |${labels.map(() => " ---: |").join("")} ---: |`);
    for (const [project, runs] of cpu) {
      const all = median(runs.map((r) => [...r.values()].reduce((n, s) => n + s, 0)));
      console.log(`| ${project} | ${labels.map((l) => cpuMedian(runs, l).toFixed(2)).join(" | ")} | ${all.toFixed(2)} |`);
    }
    // Ratios of runs of the same round, then their median: load that drifts between rounds cancels out.
    const lines = pairs.flatMap(([a, b]) =>
      OPS.filter((op) => !(a.includes("services") && op === "no-op up")).map((op) => {
        const x = row(a, op).runs;
        const y = row(b, op).runs;
        const per = x.map((v, k) => v / y[k]);
        return [`${op}: ${a} ÷ ${b}`, median(per).toFixed(2), `${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)}`];
      }),
    );
    const w = Math.max(...lines.map((l) => l[0].length));
    console.log(`\n| ${"ratio (same round)".padEnd(w)} | median | range |`);
    console.log(`| ${"-".repeat(w)} | -----: | ----- |`);
    for (const [what, m, range] of lines) console.log(`| ${what.padEnd(w)} | ${m.padStart(6)} | ${range} |`);
  } finally {
    for (const s of stacks.reverse()) await s.dispose().catch((e: unknown) => stamp(`cleanup: ${String(e)}`));
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
    for (const dir of variantDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

runTool("bench", main);
