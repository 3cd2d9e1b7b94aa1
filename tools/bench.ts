// Benchmark (not a test): on a local cluster, what a one-weight routing flip costs through Pulumi
// compared with kubectl, what a no-op up costs, the engine's own floor (a one-resource program), and
// how flip and preview grow with the number of services.
//   npm run bench -- [--runs 5] [--scale 4,50,200]
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { stringify } from "yaml";
import { parseLabConfig } from "../config/schema";
import { buildDestinationRule, buildVirtualService } from "../specs/routes";
import { kubectlPath, run, startCluster, LocalCluster } from "../tests/engine/support/cluster";
import { createStack, engineEnv, pulumiCommand } from "../tests/engine/support/pulumi";
import { runTool } from "./cli";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const RUNS = Number(arg("runs", "5"));
const SCALES = arg("scale", "4,50,200").split(",").map(Number);

interface Row { what: string; runs: number[] }
const rows: Row[] = [];

function stamp(msg: string): void {
  process.stderr.write(`[bench] ${new Date().toISOString().slice(11, 19)} ${msg}\n`);
}

async function time(what: string, runs: number, body: (i: number) => Promise<unknown>): Promise<void> {
  const row: Row = { what, runs: [] };
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await body(i);
    row.runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  rows.push(row);
  stamp(`${what}: ${row.runs.map((ms) => ms.toFixed(0)).join(", ")} ms`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** A one-weight routing config for `reviews`-like hosts. */
function canary(weight: number) {
  return parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/k" }, traffic: { reviews: { canary: "v2", weight } }, hasSshPrivateKey: false, hasKubeconfig: false }).traffic.reviews;
}

/** An inline program of `services` synthetic services (DestinationRule + VirtualService each). */
function syntheticProgram(kubeconfig: string, services: number) {
  return async () => {
    const weight = new pulumi.Config().requireNumber("weight");
    const provider = new k8s.Provider("local", { kubeconfig: pulumi.secret(kubeconfig) });
    const ns = new k8s.core.v1.Namespace("bench", { metadata: { name: "bench" } }, { provider });
    for (let i = 0; i < services; i++) {
      const host = `svc-${i}`;
      // Only the first service's weight follows config: a flip is one update among `services`.
      const vs = buildVirtualService(host, canary(i === 0 ? weight : 10), "bench");
      const dr = buildDestinationRule(host, "bench", ["v1", "v2"]);
      for (const o of [dr, vs]) {
        new k8s.apiextensions.CustomResource(`${o.kind}-${host}`, { apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, spec: o.spec }, { provider, dependsOn: [ns] });
      }
    }
  };
}

async function inlineStack(name: string, program: () => Promise<void>): Promise<{ stack: Stack; dispose: () => Promise<void> }> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-bench-"));
  const env = engineEnv(stateDir);
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: name, projectName: "bench", program },
    { envVars: env, pulumiHome: env.PULUMI_HOME, pulumiCommand: await pulumiCommand(), projectSettings: { name: "bench", runtime: "nodejs" } },
  );
  return {
    stack,
    dispose: async () => {
      await stack.destroy().catch(() => undefined);
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  stamp(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  const cluster: LocalCluster = await startCluster();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "lab-bench-files-"));
  try {
    // 1. The program's local stack.
    const lab = await createStack(`bench-${process.pid}`, "local", (c) => {
      c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath };
    });
    try {
      stamp("first up of the local stack");
      await lab.stack.up();
      const flip = (i: number) => lab.stack.setConfig("kubeadm-istio-lab:traffic.reviews.weight", { value: i % 2 ? "10" : "50" }, true);
      await time("program: preview of a one-weight flip", RUNS, async (i) => { await flip(i); await lab.stack.preview(); });
      await time("program: up of a one-weight flip", RUNS, async (i) => { await flip(i); await lab.stack.up(); });
      await time("program: no-op up", RUNS, async () => { await lab.stack.up(); });
      await time("program: refresh", RUNS, async () => { await lab.stack.refresh(); });

      // 2. kubectl apply of the same VirtualService.
      await time("kubectl apply of the same VirtualService", RUNS, async (i) => {
        const file = path.join(work, "reviews.yaml");
        fs.writeFileSync(file, stringify(buildVirtualService("reviews", canary(i % 2 ? 10 : 50), "bookinfo")));
        await run(kubectlPath(), ["--kubeconfig", cluster.kubeconfigPath, "apply", "-f", file]);
      });
      await lab.stack.destroy();
    } finally {
      await lab.dispose();
    }

    // 3. The engine's floor, and growth with the number of services.
    for (const services of [1, ...SCALES]) {
      const label = services === 1 ? "one-resource program (engine floor)" : `${services} synthetic services`;
      const { stack, dispose } = await inlineStack(`bench-${services}`, syntheticProgram(fs.readFileSync(cluster.kubeconfigPath, "utf8"), services));
      try {
        await stack.setConfig("bench:weight", { value: "10" });
        stamp(`first up: ${label}`);
        await time(`${label}: first up`, 1, () => stack.up());
        const flip = (i: number) => stack.setConfig("bench:weight", { value: i % 2 ? "10" : "50" });
        await time(`${label}: preview of a flip`, RUNS, async (i) => { await flip(i); await stack.preview(); });
        await time(`${label}: up of a flip`, RUNS, async (i) => { await flip(i); await stack.up(); });
      } finally {
        await dispose();
      }
    }
  } finally {
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((r) => r.what.length));
  console.log(`\n| ${"operation".padEnd(width)} | runs | min (s) | median (s) |`);
  console.log(`| ${"-".repeat(width)} | ---: | ------: | ---------: |`);
  for (const r of rows) {
    console.log(`| ${r.what.padEnd(width)} | ${String(r.runs.length).padStart(4)} | ${(Math.min(...r.runs) / 1000).toFixed(2).padStart(7)} | ${(median(r.runs) / 1000).toFixed(2).padStart(10)} |`);
  }
}

runTool("bench", main);
