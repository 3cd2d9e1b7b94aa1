// The pack stays quiet on what the program registers for the dev and local stacks (recorded under
// Pulumi's mocks), and on a production-marked dev stack it flags only what production forbids.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { knownValue, runProgram, ProgramRun, stackConfig } from "../unit/harness";
import { analyzeAll, PackConfig, TestResource, UNKNOWN_STRING } from "./harness";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-policy-stacks-"));
const keyPath = path.join(tmp, "id_test");
fs.writeFileSync(keyPath, "test-key", { mode: 0o600 });
let server: net.Server;

beforeAll(async () => {
  server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  fs.writeFileSync(path.join(tmp, "kubeconfig"), `apiVersion: v1
current-context: local
contexts: [{name: local, context: {cluster: local, user: admin}}]
clusters: [{name: local, cluster: {server: "https://127.0.0.1:${port}"}}]
users: [{name: admin, user: {token: t}}]
`);
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Inputs as the engine would send them in a preview: values not known yet become the unknown marker. */
async function asPolicyResources(run: ProgramRun): Promise<TestResource[]> {
  const out: TestResource[] = [];
  for (const r of run.resources) {
    if (r.type.startsWith("kubeadm-istio-lab:")) continue; // components are not sent to analyzers
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.inputs)) {
      props[k] = await knownValue<unknown>(v, UNKNOWN_STRING);
    }
    out.push({ type: r.type, name: r.name, props, additionalSecretOutputs: r.additionalSecretOutputs });
  }
  return out;
}

const production: PackConfig = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "policies", "config", "production.json"), "utf8"));

describe("dev stack (three machines over SSH)", () => {
  let resources: TestResource[];
  beforeAll(async () => {
    resources = await asPolicyResources(await runProgram({ ...stackConfig("dev"), sshPrivateKeyPath: keyPath }));
  }, 60_000);

  test("no violation with the lab's defaults", () => {
    expect(resources.length).toBeGreaterThan(40);
    expect(analyzeAll(resources)).toEqual([]);
  });

  test("the quiet is earned: the kubeconfig read-back without its secret outputs is refused", () => {
    const tampered = resources.map((r) => (r.name === "cluster-kubeconfig" ? { ...r, additionalSecretOutputs: [] } : r));
    expect(analyzeAll(tampered).map((v) => v.policy)).toEqual(["secrets-stay-secret"]);
  });

  test("marked production, only the productpage NodePort is refused", () => {
    expect(analyzeAll(resources, production).map((v) => v.policy)).toEqual(["no-nodeport-or-loadbalancer-in-production"]);
  });
});

test("local stack (existing cluster, Istio already installed): no violation", async () => {
  const config = { ...stackConfig("local"), cluster: { provision: false, kubeconfigPath: path.join(tmp, "kubeconfig") } };
  const resources = await asPolicyResources(await runProgram(config, { preview: false }));
  expect(resources.length).toBeGreaterThan(25);
  expect(analyzeAll(resources)).toEqual([]);
}, 60_000);
