// `npm run summary` against the real engine: the local stack on a local API server, each of the
// seed's routing flips made with one config change, previewed and summarised by the command itself
// (tools/summary.ts runs `pulumi preview --json`). The routing lines must be exactly right, before and
// after for every destination, and nothing else may change. A no-op preview says "No changes".
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml, stringify } from "yaml";
import { CommandError, LocalCluster, REPO_ROOT, run, startCluster } from "./support/cluster";
import { createStack, EngineStack } from "./support/pulumi";

jest.setTimeout(300_000);

let cluster: LocalCluster;
let s: EngineStack;

beforeAll(async () => {
  cluster = await startCluster();
  s = await createStack(`summary-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath, reachabilityTimeoutSeconds: 3 };
  });
  const up = await s.stack.up();
  expect(up.summary.result).toBe("succeeded");
}, 300_000);

afterAll(async () => {
  await s?.dispose();
  await cluster?.stop();
});

/** Runs the summary command on the test stack; its text output and exit status. */
async function summary(...extra: string[]): Promise<{ status: number; out: string }> {
  const args = ["-r", "ts-node/register/transpile-only", path.join(REPO_ROOT, "tools", "summary.ts"), "--stack", s.name, "--format", "text", ...extra];
  try {
    const r = await run(process.execPath, args, { cwd: REPO_ROOT, env: { ...process.env, ...s.env }, timeoutMs: 240_000 });
    return { status: 0, out: r.stdout };
  } catch (e) {
    if (e instanceof CommandError) return { status: e.exitCode ?? -1, out: e.stdout + e.stderr };
    throw e;
  }
}

/** The routing lines of a text summary (the indented lines under "Routing"). */
function routingLines(out: string): string[] {
  const lines = out.split("\n");
  const start = lines.indexOf("Routing");
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("  "));
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

/** Sets a traffic value in the stack file, as `pulumi config set --path` would (objects as a whole). */
function setTraffic(keyPath: string, value: unknown): void {
  const doc = parseYaml(fs.readFileSync(s.settingsFile, "utf8")) as { config: Record<string, Record<string, unknown>> };
  const top = doc.config["kubeadm-istio-lab:traffic"] ?? {};
  const parts = keyPath.split(".");
  let target: Record<string, unknown> = top;
  for (const p of parts.slice(0, -1)) target = (target[p] ??= {}) as Record<string, unknown>;
  target[parts[parts.length - 1]] = value;
  doc.config["kubeadm-istio-lab:traffic"] = top;
  fs.writeFileSync(s.settingsFile, stringify(doc));
}

test("a preview with nothing changed says no changes", async () => {
  const r = await summary();
  expect(r.status).toBe(0);
  expect(r.out).toContain("No changes. Routing and every other resource stay as they are.");
  expect(routingLines(r.out)).toEqual([]);
});

// The seed's scenarios in order, from the local stack's 90/10 canary; each builds on the one before.
const scenarios: [string, string, unknown, string][] = [
  ["blue-green: all of reviews to v1 (8.1)", "reviews", { active: "v1" }, "reviews: v1 90% → 100%, v2 10% → 0%"],
  ["blue-green: all of reviews to v2 (8.1)", "reviews.active", "v2", "reviews: v1 100% → 0%, v2 0% → 100%"],
  ["canary 90/10 (8.2)", "reviews", { canary: "v2", weight: 10 }, "reviews: v1 0% → 90%, v2 100% → 10%"],
  ["canary 50/50 (8.2)", "reviews.weight", 50, "reviews: v1 90% → 50%, v2 10% → 50%"],
  ["canary 100 (8.2)", "reviews.weight", 100, "reviews: v1 50% → 0%, v2 50% → 100%"],
  ["ratings delayed 2 s (8.3)", "ratings.fault", { delay: { fixedDelay: "2s" } }, "ratings: delay none → 2s on 100%"],
  ["reviews timeout 0.5 s (8.3)", "reviews.timeout", "0.5s", "reviews: timeout none → 0.5s"],
  [
    "iPhone User-Agent to v3 (4.3.1)",
    "reviews.headerRoutes",
    [{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }],
    'reviews: header route added: user-agent matches regex ".*iPhone.*" → v3 (timeout 0.5s)',
  ],
];

describe.each(scenarios)("%s", (_, key, value, line) => {
  test("the summary's routing is exactly that line, and nothing else changes", async () => {
    setTraffic(key, value);
    const r = await summary();
    expect(r.status).toBe(0);
    expect(routingLines(r.out)).toEqual([line]);
    expect(r.out).toContain("Nothing else changes.");
    const up = await s.stack.up();
    expect(up.summary.result).toBe("succeeded");
  });
});

test("after the flips are applied, the next preview says no changes again", async () => {
  const r = await summary();
  expect(r.out).toContain("No changes.");
});

test("with the policy pack and the production config, the delay is a violation and the command exits 1", async () => {
  const r = await summary(
    "--policy-pack", path.join(REPO_ROOT, "policies", "run-pack"),
    "--policy-pack-config", path.join(REPO_ROOT, "policies", "config", "production.json"),
  );
  expect(r.status).toBe(1);
  expect(r.out).toContain("Policy violations");
  expect(r.out).toMatch(/mandatory no-fault-injection-in-production on traffic-ratings-routes/);
  expect(r.out).toContain("No changes.");
});
