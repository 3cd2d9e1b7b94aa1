// Field owners (issue 21): a create whose apply reached the API server but whose answer never reached
// the engine (a dropped connection, cut on purpose by a proxy in front of the API server) leaves the
// object in the cluster and not in the state. The next up must converge, with one field manager per
// object, this stack's, so that later changes apply. A field another manager owns still stops up,
// naming both; and a stack from before one manager per stack gets its leftovers released by recover.
// One local cluster, one stack, in this order.
import { stackFieldManager } from "../../specs/fieldManager";
import { LocalCluster, startCluster } from "./support/cluster";
import { DEPLOYMENTS, failureOf, KINDS, MANAGED, NS, runRecover } from "./support/bookinfo";
import { CutProxy, startCutProxy } from "./support/cutProxy";
import { checkpoint, createStack, EngineStack, PROJECT } from "./support/pulumi";


let cluster: LocalCluster;
let proxy: CutProxy;
let s: EngineStack;
let manager: string;
const log: string[] = [];
const onOutput = (line: string) => log.push(line);

interface ManagedEntry {
  manager: string;
  operation: string;
  subresource?: string;
}
interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string; managedFields?: ManagedEntry[] };
  spec?: { replicas?: number };
}

/** The program's objects in the cluster, read past the proxy. */
async function objects(): Promise<K8sObject[]> {
  const list = JSON.parse(await cluster.kubectl(["get", KINDS, "-A", "-l", MANAGED, "-o", "json", "--show-managed-fields"])) as { items: K8sObject[] };
  return list.items;
}

/** Each object's applying managers (operation Apply on the object itself), as "Kind ns/name" → names. */
async function applyManagers(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const o of await objects()) {
    const appliers = (o.metadata.managedFields ?? []).filter((e) => e.operation === "Apply" && e.subresource === undefined).map((e) => e.manager);
    out[`${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`] = appliers.sort();
  }
  return out;
}

async function replicas(name: string): Promise<number | undefined> {
  return (JSON.parse(await cluster.kubectl(["get", "deployment", name, "-n", NS, "-o", "json"])) as K8sObject).spec?.replicas;
}

function stateHas(kind: string, id: string): boolean {
  return checkpoint(s).resources.some((r) => r.type.endsWith(`:${kind}`) && r.id === id);
}

beforeAll(async () => {
  cluster = await startCluster();
  proxy = await startCutProxy(cluster.kubeconfigPath);
  s = await createStack(`owners-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: proxy.kubeconfigPath, reachabilityTimeoutSeconds: 3 };
    c.istio = { install: false, mtls: "STRICT" };
  });
  manager = stackFieldManager(PROJECT, s.name);
}, 180_000);

afterAll(async () => {
  await s?.dispose();
  await proxy?.close();
  await cluster?.stop();
}, 120_000);

describe("field owners after a cut, a foreign owner, and an older stack's leftovers", () => {
  test("a create cut off after the API server applied it: that up fails; the next converges with one field manager per object, the stack's; a replica change then applies", async () => {
    let cut = "";
    void proxy
      .cutAfter((r) => r.method === "PATCH" && r.path.startsWith(`/apis/apps/v1/namespaces/${NS}/deployments/reviews-v1?`) && !r.path.includes("dryRun"))
      .then((r) => (cut = `${r.method} ${r.path}`));
    const first = await failureOf(s.stack.up({ onOutput }));
    if (cut === "") throw new Error(`no cut: the up ended with ${first.slice(-3000)}\nrequests: ${proxy.seen.slice(-20).join("\n")}`);
    expect(cut).toMatch(/fieldManager=/);
    expect(first).not.toBe("(it succeeded)");
    expect(first).toMatch(/reviews-v1/);
    // The cut left the object in the cluster and out of the state.
    expect(await replicas("reviews-v1")).toBe(1);
    expect(stateHas("Deployment", `${NS}/reviews-v1`)).toBe(false);

    const next = await s.stack.up({ onOutput });
    expect(next.summary.result).toBe("succeeded");
    const owners = await applyManagers();
    expect(Object.keys(owners).length).toBeGreaterThan(20);
    for (const [object, managers] of Object.entries(owners)) expect({ object, managers }).toEqual({ object, managers: [manager] });

    await s.stack.setConfig(`${PROJECT}:bookinfo.replicas`, { value: "2" }, true);
    const scaled = await s.stack.up({ onOutput });
    expect(scaled.summary.result).toBe("succeeded");
    for (const name of DEPLOYMENTS) expect({ name, replicas: await replicas(name) }).toEqual({ name, replicas: 2 });
    const preview = await s.stack.preview({ onOutput });
    expect(Object.entries(preview.changeSummary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0)).toEqual([]);
  }, 420_000);

  test("a field another manager owns (a person's server-side apply of replicas): up stops, naming the field and the manager", async () => {
    const theirs = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "ratings-v1", namespace: NS }, spec: { replicas: 3 } };
    await cluster.kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=platform-oncall", "-f", "-"], { input: JSON.stringify(theirs) });
    await s.stack.setConfig(`${PROJECT}:bookinfo.replicas`, { value: "1" }, true);
    const refused = await failureOf(s.stack.up({ onOutput }));
    expect(refused).toMatch(/conflict/i);
    expect(refused).toMatch(/platform-oncall/);
    expect(refused).toMatch(/\.spec\.replicas/);
    expect(await replicas("ratings-v1")).toBe(3);
    // The person gives the field back; the stack's value applies again.
    await cluster.kubectl(["apply", "--server-side", "--field-manager=platform-oncall", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "ratings-v1", namespace: NS } }),
    });
    const after = await s.stack.up({ onOutput });
    expect(after.summary.result).toBe("succeeded");
    for (const name of DEPLOYMENTS) expect({ name, replicas: await replicas(name) }).toEqual({ name, replicas: 1 });
  }, 300_000);

  test("an older stack's leftover (a provider-named manager co-owning replicas) refuses the next change; recover releases it and says so; then the change applies", async () => {
    // What a cut create left on a stack made before one manager per stack: a random provider name
    // sharing the fields with the value they had.
    const leftover = "pulumi-kubernetes-0badc0de";
    const same = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "reviews-v2", namespace: NS }, spec: { replicas: 1 } };
    await cluster.kubectl(["apply", "--server-side", `--field-manager=${leftover}`, "-f", "-"], { input: JSON.stringify(same) });
    await s.stack.setConfig(`${PROJECT}:bookinfo.replicas`, { value: "2" }, true);
    const refused = await failureOf(s.stack.up({ onOutput }));
    expect(refused).toMatch(new RegExp(`conflict with "${leftover}"[\\s\\S]*\\.spec\\.replicas`));

    const { said } = await runRecover(s);
    process.stdout.write(`[owners] recover said:\n${said.join("\n")}\n`);
    expect(said).toContain(`[recover] field manager: Deployment ${NS}/reviews-v2: released ${leftover} (left by a cut create; this stack applies it as ${manager})`);
    expect(said.filter((l) => l.includes("released"))).toHaveLength(1);

    const after = await s.stack.up({ onOutput });
    expect(after.summary.result).toBe("succeeded");
    for (const name of DEPLOYMENTS) expect({ name, replicas: await replicas(name) }).toEqual({ name, replicas: 2 });
    const owners = await applyManagers();
    for (const [object, managers] of Object.entries(owners)) expect({ object, managers }).toEqual({ object, managers: [manager] });
  }, 420_000);
});
