// Faults, interruptions and leftovers (issue 12): an `up` interrupted by Ctrl-C, killed outright, cut
// off from its API server, or raced by a second `up`, converges on the next run; drift of replicas and
// of a deleted DestinationRule is seen and undone; and no credential is left on disk. One local
// cluster and one stack for the whole file, in this order: each case starts from where the last ended.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { OpMap } from "@pulumi/pulumi/automation";
import { buildDestinationRule } from "../../specs/routes";
import { goCaches, scanFiles } from "../../tools/credential-scan";
import { privateTmpRoot } from "../../tools/privateTmp";
import { isProcessRunning, labCacheDir, LocalCluster, REPO_ROOT, run, startCluster } from "./support/cluster";
import { DEPLOYMENTS, failureOf, KINDS, MANAGED, NS, runRecover } from "./support/bookinfo";
import { checkpoint, CliRun, createStack, descendants, EngineEvent, EngineStack, stackLocks, startCli, stateFilePath } from "./support/pulumi";


const TS_NODE = path.join(REPO_ROOT, "node_modules", ".bin", "ts-node");

const startedAt = Date.now();
let cluster: LocalCluster;
let s: EngineStack;
let disposed = false;
/** Strings only this file's cluster has: its admin client key (as in the kubeconfig) and its private keys. */
let secrets: [string, string][] = [];
const log: string[] = [];
const onOutput = (line: string) => log.push(line);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

function changes(summary: OpMap | undefined): OpMap {
  return Object.fromEntries(Object.entries(summary ?? {}).filter(([op, n]) => op !== "same" && (n ?? 0) > 0));
}

const upCli = (timeoutMs: number): CliRun => startCli(s, ["up", "--yes", "--skip-preview"], { timeoutMs });

const deploymentStep = (op: string) => (e: EngineEvent) =>
  e.resourcePreEvent?.metadata.type === "kubernetes:apps/v1:Deployment" && e.resourcePreEvent.metadata.op === op;

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: { replicas?: number };
  status?: { conditions?: { type: string; status: string }[] };
}

/** Every object of the program's in the cluster, as kind/namespace/name. */
async function clusterObjects(): Promise<string[]> {
  const list = JSON.parse(await cluster.kubectl(["get", KINDS, "-A", "-l", MANAGED, "-o", "json"])) as { items: K8sObject[] };
  return list.items.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`).sort();
}

/** Every Kubernetes object the stack's state holds, as kind/namespace/name (duplicates kept). */
function stateObjects(): string[] {
  return checkpoint(s)
    .resources.filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers:"))
    .map((r) => {
      const kind = r.type.slice(r.type.lastIndexOf(":") + 1);
      const [ns, name] = (r.id ?? "").includes("/") ? (r.id ?? "").split("/") : ["", r.id ?? ""];
      return `${kind}/${ns}/${name}`;
    })
    .sort();
}

/**
 * State and cluster agree: the same objects, each once, no interrupted operation, no lock, and a preview
 * with nothing to do. Returns the objects.
 */
async function expectConverged(): Promise<string[]> {
  const inCluster = await clusterObjects();
  const inState = stateObjects();
  expect(inState).toEqual(inCluster);
  expect(new Set(inState).size).toBe(inState.length);
  const urns = checkpoint(s).resources.map((r) => r.urn);
  expect(new Set(urns).size).toBe(urns.length);
  expect(checkpoint(s).pendingOperations).toEqual([]);
  expect(stackLocks(s)).toEqual([]);
  const preview = await s.stack.preview({ onOutput });
  expect(changes(preview.changeSummary)).toEqual({});
  return inCluster;
}

/** Waits until the productpage Service (the one NodePort Service) exists: its create request is over. */
async function nodePortServiceCreated(): Promise<void> {
  await waitUntil("the productpage Service to exist", async () => (await cluster.kubectl(["get", "service", "productpage", "-n", NS, "--ignore-not-found", "-o", "name"])).trim() !== "", 60_000);
}

async function deployment(name: string): Promise<K8sObject> {
  return JSON.parse(await cluster.kubectl(["get", "deployment", name, "-n", NS, "-o", "json"])) as K8sObject;
}

beforeAll(async () => {
  cluster = await startCluster();
  s = await createStack(`faults-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath, reachabilityTimeoutSeconds: 3 };
    // This cluster's Istio is the stand-in (CRDs and an ingress gateway): use it, install no chart.
    c.istio = { install: false, mtls: "STRICT" };
  });
  const kubeconfig = fs.readFileSync(cluster.kubeconfigPath, "utf8");
  const clientKey = /client-key-data:\s*(\S+)/.exec(kubeconfig)?.[1];
  if (clientKey === undefined) throw new Error("the cluster's kubeconfig has no client-key-data");
  secrets = [["the cluster's admin client key (client-key-data)", clientKey]];
  for (const file of ["admin.key", "ca.key", "sa.key", "apiserver.key"]) {
    // One line of each key's base64 body: any copy of the key holds it.
    const body = fs.readFileSync(path.join(cluster.dir, "pki", file), "utf8").split("\n").find((l) => /^[A-Za-z0-9+/]{40,}={0,2}$/.test(l));
    if (body !== undefined) secrets.push([`the cluster's ${file}`, body]);
  }
}, 180_000);

afterAll(async () => {
  if (!disposed) await s?.dispose();
  await cluster?.stop();
}, 120_000);

describe("an interrupted, raced or cut-off up converges on the next run", () => {
  test("1. SIGINT while Bookinfo's Deployments are being created: the engine stops cleanly; the next up completes, every object once; refresh shows no change", async () => {
    const up = upCli(150_000);
    await up.waitForEvent(deploymentStep("create"), 120_000);
    // Not in the middle of the NodePort Service's own create request: a create cut there can leave its
    // node port allocated on the API server with no Service holding it until the allocator's repair loop
    // frees it (the next up's create was refused "provided port is already allocated" in one CI run of
    // 12). Its create step is begun with the Deployments'; once the object exists the request is over.
    await nodePortServiceCreated();
    const plugins = descendants(up.pid);
    up.signal("SIGINT"); // a terminal's Ctrl-C reaches the CLI; the plugins run in their own process groups
    const exit = await up.exited;
    // A provider may still be finishing a create the engine gave up waiting for, and the next up would
    // race it for the same object. The README says to let the plugins end first; so does the test.
    const exitedAt = Date.now();
    await waitUntil("the interrupted up's plugins to exit", () => plugins.every((pid) => !isProcessRunning(pid)), 60_000);
    process.stdout.write(`[faults] case 1: the interrupted up's ${plugins.length} plugin processes ended ${Date.now() - exitedAt} ms after the CLI\n`);
    expect(exit.signal).toBeNull(); // it ended by itself, not by the test's bound
    expect(exit.code).not.toBe(0);
    expect(exit.stdout + exit.stderr).toMatch(/cancel/i);
    // Cleanly: it waited for the operations it had begun, recorded them, and let go of the lock.
    expect(checkpoint(s).pendingOperations).toEqual([]);
    expect(stackLocks(s)).toEqual([]);
    const createdBefore = stateObjects().length;

    const next = await s.stack.up({ onOutput });
    expect(next.summary.result).toBe("succeeded");
    expect(changes(next.summary.resourceChanges).create ?? 0).toBeGreaterThan(0);
    const objects = await expectConverged();
    expect(objects.length).toBeGreaterThan(createdBefore);
    expect(objects.filter((o) => o.startsWith("Deployment/")).map((o) => o.split("/")[2])).toEqual(DEPLOYMENTS);
    for (const name of DEPLOYMENTS) {
      const d = await deployment(name);
      expect({ name, available: d.status?.conditions?.find((c) => c.type === "Available")?.status }).toEqual({ name, available: "True" });
    }
    const refresh = await s.stack.refresh({ onOutput });
    expect(changes(refresh.summary.resourceChanges)).toEqual({});
  }, 300_000);

  test("5. drift: a Deployment scaled to 0 and a DestinationRule deleted with kubectl; refresh sees both; up restores both", async () => {
    await cluster.kubectl(["scale", "deployment", "reviews-v2", "-n", NS, "--replicas=0"]);
    await cluster.kubectl(["delete", "destinationrules.networking.istio.io", "ratings", "-n", NS]);
    await waitUntil("reviews-v2 scaled to 0", async () => (await deployment("reviews-v2")).spec?.replicas === 0, 30_000);

    const refresh = await s.stack.refresh({ onOutput });
    expect(changes(refresh.summary.resourceChanges)).toEqual({ update: 1, delete: 1 });
    expect(stateObjects()).not.toContain(`DestinationRule/${NS}/ratings`);

    const up = await s.stack.up({ onOutput });
    expect(changes(up.summary.resourceChanges)).toEqual({ update: 1, create: 1 });
    expect((await deployment("reviews-v2")).spec?.replicas).toBe(1);
    const dr = JSON.parse(await cluster.kubectl(["get", "destinationrules.networking.istio.io", "ratings", "-n", NS, "-o", "json"])) as { spec: unknown };
    expect(dr.spec).toEqual(buildDestinationRule("ratings", NS).spec);
    await expectConverged();
  }, 240_000);

  test("4. two ups at once on one stack: the second is refused with the lock message; the first completes; state intact", async () => {
    await s.stack.setConfig("kubeadm-istio-lab:traffic.reviews.weight", { value: "50" }, true);
    const historyBefore = (await s.stack.history()).length;
    const first = upCli(150_000);
    // The engine takes the stack's lock before it runs the program.
    await waitUntil("the first up to lock the stack", () => stackLocks(s).length === 1, 60_000);
    const second = await failureOf(s.stack.up({ onOutput }));
    const firstStillRunning = first.events().every((e) => e.summaryEvent === undefined);
    expect(second).toMatch(/the stack is currently locked by 1 lock\(s\)\. Either wait for the other process\(es\) to end or delete the lock file with `pulumi cancel`/);
    expect(firstStillRunning).toBe(true);

    const exit = await first.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(first.events().find((e) => e.summaryEvent !== undefined)?.summaryEvent?.resourceChanges).toMatchObject({ update: 1 });
    const vs = JSON.parse(await cluster.kubectl(["get", "virtualservices.networking.istio.io", "reviews", "-n", NS, "-o", "json"])) as {
      spec: { http: { route: { weight?: number }[] }[] };
    };
    expect(vs.spec.http.filter((h) => h.route.length === 2).map((h) => h.route.map((r) => r.weight))).toEqual([[50, 50]]);
    expect((await s.stack.outputs()).routing.value).toContain("reviews: v1 50%, v2 50%");
    // Only the first up is in the history; the refused one changed nothing.
    const history = await s.stack.history();
    expect(history.length).toBe(historyBefore + 1);
    expect(history[0].result).toBe("succeeded");
    await expectConverged();
  }, 240_000);

  test("3. kube-apiserver stopped for 10 s in the middle of up, then started again: up fails with a clear error or rides it out; the next up converges", async () => {
    await s.stack.setConfig("kubeadm-istio-lab:bookinfo.replicas", { value: "2" }, true);
    const up = upCli(240_000);
    await up.waitForEvent(deploymentStep("update"), 120_000);
    await cluster.stopApiServer();
    await sleep(10_000);
    await cluster.startApiServer();
    const exit = await up.exited;
    // Bounded: the engine ended by itself, well before the test's kill. If not, say where it was.
    if (exit.timedOut !== undefined) {
      const last = up.events().slice(-8).map((e) => JSON.stringify(e).slice(0, 300));
      const deployments = await cluster.kubectl(["get", "deployments", "-n", NS, "-o", "wide"]).catch((e: unknown) => String(e));
      throw new Error(
        `the up during the API server's restart did not end within 240 s; its processes:\n${exit.timedOut.tree.join("\n")}\n` +
          `its last events:\n${last.join("\n")}\ndeployments:\n${deployments}\noutput:\n${(exit.stdout + exit.stderr).slice(-3000)}`,
      );
    }
    expect(exit.signal).toBeNull();
    const output = exit.stdout + exit.stderr;
    if (exit.code !== 0) {
      // A clear error names the API server or what went wrong talking to it.
      expect(output).toMatch(new RegExp(`127\\.0\\.0\\.1:${cluster.env.LAB_APISERVER_PORT}|connection refused|unreachable|the server is currently unable`));
    }
    const errors = output.split("\n").filter((l) => /error:/.test(l)).slice(0, 3).map((l) => l.trim());
    process.stdout.write(`[faults] case 3: the up during the API server's restart ${exit.code === 0 ? "rode it out" : `failed (exit ${exit.code}): ${errors.join(" | ")}`}\n`);

    const next = await s.stack.up({ onOutput });
    expect(next.summary.result).toBe("succeeded");
    for (const name of DEPLOYMENTS) expect({ name, replicas: (await deployment(name)).spec?.replicas }).toEqual({ name, replicas: 2 });
    await expectConverged();
  }, 360_000);

  test("2. SIGKILL at the same point: the next up says what to do (the lock, then README's recovery step); after that one step up converges, no orphan in the cluster or in state", async () => {
    const destroyed = await s.stack.destroy({ onOutput });
    expect(destroyed.summary.result).toBe("succeeded");
    await waitUntil("the program's objects to be gone", async () => (await clusterObjects()).length === 0, 60_000);

    const up = upCli(150_000);
    await up.waitForEvent(deploymentStep("create"), 120_000);
    await nodePortServiceCreated(); // as in case 1
    up.killTree(); // the CLI, language host, program and provider at once, as when a CI runner dies
    const exit = await up.exited;
    expect(exit.signal).toBe("SIGKILL");
    // What a killed engine leaves: its lock, and the creates it had begun.
    expect(stackLocks(s)).toHaveLength(1);
    const interrupted = checkpoint(s).pendingOperations.filter((o) => o.type === "creating");
    expect(interrupted.length).toBeGreaterThan(0);

    // The next up refuses, naming the lock and `pulumi cancel`; or, when the kill landed inside a state
    // write (fileblob had truncated the state file's .attrs sidecar and not yet renamed the new file
    // in), with `failed to load checkpoint: EOF`, as every command on the stack then does.
    const refused = await failureOf(s.stack.up({ onOutput }));
    const cutWrite = /failed to load checkpoint: EOF/.test(refused);
    process.stdout.write(`[faults] case 2: the kill landed ${cutWrite ? "inside a state write" : "between state writes"}\n`);
    if (!cutWrite) {
      expect(refused).toMatch(/the stack is currently locked by 1 lock\(s\)[\s\S]*pulumi cancel/);
      // The other case, made as fileblob leaves it, so that recover meets both on every run.
      const state = stateFilePath(s);
      fs.writeFileSync(`${state}.${Date.now().toString(16)}.tmp`, fs.readFileSync(state));
      fs.writeFileSync(`${state}.attrs`, "");
      expect(await failureOf(s.stack.up({ onOutput }))).toMatch(/failed to load checkpoint: EOF/);
    }
    // The README says what to do about either message and the interrupted operations: one command.
    const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
    expect(readme).toMatch(/currently locked[\s\S]{0,800}npm run recover -- --stack/);
    expect(readme).toMatch(/failed to load checkpoint: EOF[\s\S]{0,800}npm run recover -- --stack/);

    const recovered = await runRecover(s);
    process.stdout.write(`[faults] case 2: recover said:\n${recovered.said.join("\n")}\n`);
    expect(recovered.stdout).toMatch(/stale lock of pid \d+/);
    expect(recovered.stdout).toMatch(/interrupted state write, removed \.pulumi\/stacks\/\S+\.json\.attrs: an empty sidecar/);
    // Every create the kill interrupted (whichever of Bookinfo's objects were in flight) is settled by import.
    for (const op of interrupted) expect(recovered.stdout).toContain(`interrupted create, imported if it exists: ${op.resource.urn} as `);
    expect(stackLocks(s)).toEqual([]);
    expect(checkpoint(s).pendingOperations).toEqual([]);

    const next = await s.stack.up({ onOutput });
    expect(next.summary.result).toBe("succeeded");
    const objects = await expectConverged();
    expect(objects.filter((o) => o.startsWith("Deployment/")).map((o) => o.split("/")[2])).toEqual(DEPLOYMENTS);
  }, 420_000);
});

describe("credentials on disk", () => {
  test("6. the provider's kubeconfig copies stay in each run's private TMPDIR; after the runs no file outside the private cache holds the cluster's keys", async () => {
    // One more command the project runs: the pull-request summary (a preview through tools/summary.ts).
    const summary = await run(TS_NODE, ["--transpile-only", path.join(REPO_ROOT, "tools", "summary.ts"), "--stack", s.name, "--format", "text"], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...s.env },
      timeoutMs: 180_000,
    });
    expect(summary.stdout).toMatch(new RegExp(`Pulumi preview of stack \`?${s.name}`));

    // The provider does write copies of the kubeconfig (the admin key in it): here, in the stack's TMPDIR.
    const [clientKeyName, clientKey] = secrets[0];
    const copies = scanFiles([s.env.TMPDIR], { exclude: [], patterns: [[clientKeyName, clientKey]] }).findings;
    expect(copies.length).toBeGreaterThan(0);
    // The tools' own private TMPDIRs (summary, recover) are gone with their runs.
    expect(scanFiles([privateTmpRoot()], { exclude: [], sinceMs: startedAt, patterns: secrets }).findings).toEqual([]);

    await s.dispose();
    disposed = true;
    const roots = [os.tmpdir(), os.homedir()];
    const exclude = [labCacheDir(), ...goCaches()];
    // While the cluster runs, its own folder holds its keys; nothing else may.
    const live = scanFiles(roots, { exclude: [...exclude, cluster.dir], sinceMs: startedAt, patterns: secrets });
    expect(live.scanned).toBeGreaterThan(0);
    expect(live.findings).toEqual([]);
    await cluster.stop();
    expect(fs.existsSync(cluster.dir)).toBe(false);
    expect(scanFiles(roots, { exclude, sinceMs: startedAt, patterns: secrets }).findings).toEqual([]);
  }, 300_000);
});
