// The policy pack run by the real engine: quiet on the local stack, loud on a program that breaks
// rules 1, 2, 3 and 5 (an inline Automation API program, since the lab's own config refuses them).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import { LocalCluster, REPO_ROOT, startCluster } from "./support/cluster";
import { createStack, EngineStack, engineEnv, pulumiCommand } from "./support/pulumi";

jest.setTimeout(300_000);

// The Node.js language host built here cannot run a pack folder; the engine runs this launcher instead.
const PACK = path.join(REPO_ROOT, "policies", "run-pack");
const PRODUCTION = path.join(REPO_ROOT, "policies", "config", "production.json");
let cluster: LocalCluster;
let local: EngineStack;

beforeAll(async () => {
  cluster = await startCluster();
  local = await createStack(`policy-${process.pid}`, "local", (c) => {
    c.cluster = { ...(c.cluster as object), kubeconfigPath: cluster.kubeconfigPath };
  });
}, 300_000);

afterAll(async () => {
  await local?.dispose();
  await cluster?.stop();
});

/** "<level> <policy> <resource>" per violation the engine printed: "- [mandatory] [severity: high]  policy  (type: name)". */
function violations(output: string): string[] {
  const line = /\[(mandatory|advisory)\]\s+\[severity: \w+\]\s+([a-z0-9-]+)\s+\(.*?: ([^)]+)\)/g;
  return [...new Set([...output.matchAll(line)].map((m) => `${m[1]} ${m[2]} ${m[3]}`))];
}

test("the local stack previews with the pack and no violation", async () => {
  const lines: string[] = [];
  const preview = await local.stack.preview({ policyPacks: [PACK], onOutput: (l) => lines.push(l) });
  const output = preview.stdout + lines.join("");
  expect(output).toMatch(/kubeadm-istio-lab@v0\.1\.0/);
  expect(violations(output)).toEqual([]);
});

test("a program that breaks rules 1, 2, 3 and 5 fails the preview, naming each policy", async () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-policy-"));
  const env = engineEnv(stateDir);
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const kubeconfig = fs.readFileSync(cluster.kubeconfigPath, "utf8");
  const program = async () => {
    const provider = new k8s.Provider("local", { kubeconfig: pulumi.secret(kubeconfig) });
    const opts = { provider };
    const vs = (name: string, spec: Record<string, unknown>) =>
      new k8s.apiextensions.CustomResource(name, { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace: "default" }, spec }, opts);
    // Rule 1: 90 + 20 is not 100. Rule 5: a delay on a production stack.
    vs("bad-weights", {
      hosts: ["reviews"],
      http: [{ fault: { delay: { percentage: { value: 100 }, fixedDelay: "2s" } }, route: [{ destination: { host: "reviews" }, weight: 90 }, { destination: { host: "ratings" }, weight: 20 }] }],
    });
    // Rule 2: subset v9 is defined by no DestinationRule (the seed's own bug).
    vs("missing-subset", { hosts: ["details"], http: [{ route: [{ destination: { host: "details", subset: "v9" } }] }] });
    // Rule 3: an image on latest.
    new k8s.apps.v1.Deployment("unpinned", {
      metadata: { name: "unpinned", namespace: "default" },
      spec: {
        selector: { matchLabels: { app: "unpinned" } },
        template: {
          metadata: { labels: { app: "unpinned" } },
          spec: { containers: [{ name: "web", image: "nginx:latest", resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } } }] },
        },
      },
    }, opts);
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "breaker", projectName: "policy-breaker", program },
    { envVars: env, pulumiHome: env.PULUMI_HOME, pulumiCommand: await pulumiCommand(), projectSettings: { name: "policy-breaker", runtime: "nodejs" } },
  );
  const lines: string[] = [];
  try {
    let failed = false;
    try {
      await stack.preview({ policyPacks: [PACK], policyPackConfigs: [PRODUCTION], onOutput: (l) => lines.push(l) });
    } catch (e) {
      failed = true;
      lines.push(String(e));
    }
    const output = lines.join("");
    if (process.env.LAB_DEBUG) console.log(output);
    expect(failed).toBe(true);
    const found = violations(output);
    expect(found).toEqual(expect.arrayContaining([
      "mandatory virtualservice-weights-sum-to-100 bad-weights",
      "mandatory virtualservice-subsets-defined missing-subset",
      "mandatory container-images-pinned unpinned",
      "mandatory no-fault-injection-in-production bad-weights",
    ]));
  } finally {
    await stack.workspace.removeStack("breaker", { force: true }).catch(() => undefined);
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});
