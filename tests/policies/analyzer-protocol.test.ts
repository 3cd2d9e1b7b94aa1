// Runs the pack the way the engine will: `policies/run-pack` as a separate process, spoken to
// over the analyzer gRPC protocol on loopback. No engine involved; this test plays its part.
// It checks what only the real SDK server shows: the TypeScript pack loads under ts-node,
// config arrives through Configure, per-violation levels survive, and secret marks reach the
// remediation.
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as analyzerpb from "@pulumi/pulumi/proto/analyzer_pb";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { policies } from "../../policies/pack";
import { TYPES } from "../../policies/lib/types";
import { goodStack, httpRoute, peerAuthentication, reviewsCanary, virtualService } from "./fixtures";
import { TestResource } from "./harness";

const RUN_PACK = path.join(__dirname, "../../policies/run-pack");
const Level = analyzerpb.EnforcementLevel;

let child: ChildProcess | undefined;
let client: AnalyzerClient;

function call<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function secret(value: unknown): Record<string, unknown> {
  return { [specialSigKey]: specialSecretSig, value };
}

function options(r: TestResource): analyzerpb.AnalyzerResourceOptions {
  const o = new analyzerpb.AnalyzerResourceOptions();
  o.setAdditionalsecretoutputsList(r.additionalSecretOutputs ?? []);
  return o;
}

function analyzeRequest(r: TestResource): analyzerpb.AnalyzeRequest {
  const req = new analyzerpb.AnalyzeRequest();
  req.setType(r.type);
  req.setName(r.name ?? "r");
  req.setUrn(`urn:pulumi:lab::kubeadm-istio-lab::${r.type}::${r.name ?? "r"}`);
  req.setProperties(Struct.fromJavaScript(r.props as Record<string, never>));
  req.setOptions(options(r));
  return req;
}

async function configure(config: Record<string, { level: analyzerpb.EnforcementLevel; props?: Record<string, unknown> }>): Promise<void> {
  const req = new analyzerpb.ConfigureAnalyzerRequest();
  for (const [name, c] of Object.entries(config)) {
    const pc = new analyzerpb.PolicyConfig();
    pc.setEnforcementlevel(c.level);
    pc.setProperties(Struct.fromJavaScript((c.props ?? {}) as Record<string, never>));
    req.getPolicyconfigMap().set(name, pc);
  }
  await call(client.configure, req);
}

async function analyze(resources: TestResource[]): Promise<analyzerpb.AnalyzeDiagnostic[]> {
  const out: analyzerpb.AnalyzeDiagnostic[] = [];
  for (const r of resources) {
    const res = await call<analyzerpb.AnalyzeRequest, analyzerpb.AnalyzeResponse>(client.analyze, analyzeRequest(r));
    out.push(...res.getDiagnosticsList());
  }
  return out;
}

async function analyzeStack(resources: TestResource[]): Promise<analyzerpb.AnalyzeDiagnostic[]> {
  const req = new analyzerpb.AnalyzeStackRequest();
  req.setResourcesList(
    resources.map((r) => {
      const a = new analyzerpb.AnalyzerResource();
      a.setType(r.type);
      a.setName(r.name ?? "r");
      a.setUrn(`urn:pulumi:lab::kubeadm-istio-lab::${r.type}::${r.name ?? "r"}`);
      a.setProperties(Struct.fromJavaScript(r.props as Record<string, never>));
      a.setOptions(options(r));
      return a;
    }),
  );
  const res = await call<analyzerpb.AnalyzeStackRequest, analyzerpb.AnalyzeResponse>(client.analyzeStack, req);
  return res.getDiagnosticsList();
}

beforeAll(async () => {
  const proc = spawn(RUN_PACK, ["127.0.0.1:1", "."], { stdio: ["ignore", "pipe", "pipe"] });
  child = proc;
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    proc.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split("\n")[0].trim();
      if (stdout.includes("\n") && /^\d+$/.test(line)) {
        resolve(line);
      }
    });
    proc.on("exit", (code) => reject(new Error(`run-pack exited with ${code}: ${stderr}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120_000);

afterAll(() => {
  client?.close();
  if (child?.pid !== undefined && child.exitCode === null) {
    child.kill("SIGTERM");
  }
});

test("GetAnalyzerInfo lists every policy with its default level and config schema", async () => {
  const info = await call<Empty, analyzerpb.AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
  expect(info.getName()).toBe("kubeadm-istio-lab");
  expect(info.getVersion()).toBe("0.1.0");
  const listed = info.getPoliciesList();
  expect(listed.map((p) => p.getName()).sort()).toEqual(policies.map((p) => p.name).sort());
  const mtls = listed.find((p) => p.getName() === "mesh-mtls-strict");
  expect(mtls?.getEnforcementlevel()).toBe(Level.MANDATORY);
  const schema = mtls?.getConfigschema()?.getProperties()?.toJavaScript();
  expect(schema?.["production"]).toMatchObject({ type: "boolean", default: false });
});

test("the Bookinfo lab stack passes over the wire", async () => {
  await configure({});
  expect(await analyze(goodStack())).toEqual([]);
  expect(await analyzeStack(goodStack())).toEqual([]);
});

test("Configure: a disabled rule is silent, production=true turns on the fault rule", async () => {
  const vs = virtualService("ratings", [
    httpRoute(
      [
        { host: "ratings", subset: "v1", weight: 90 },
        { host: "ratings", subset: "v2", weight: 20 },
      ],
      { name: "ratings-delay", fault: { delay: { percentage: { value: 100 }, fixedDelay: "2s" } } },
    ),
  ]);
  await configure({});
  const lab = await analyze([vs]);
  expect(lab.map((d) => d.getPolicyname())).toEqual(["virtualservice-weights-sum-to-100"]);

  await configure({
    "virtualservice-weights-sum-to-100": { level: Level.DISABLED },
    "no-fault-injection-in-production": { level: Level.MANDATORY, props: { production: true } },
  });
  const prod = await analyze([vs]);
  expect(prod.map((d) => d.getPolicyname())).toEqual(["no-fault-injection-in-production"]);
  expect(prod[0].getEnforcementlevel()).toBe(Level.MANDATORY);
  expect(prod[0].getMessage()).toContain('http route "ratings-delay"');
});

test("a stack violation carries its URN, and PERMISSIVE on purpose arrives as advisory", async () => {
  await configure({ "mesh-mtls-strict": { level: Level.MANDATORY, props: { permissiveOnPurpose: true } } });
  const stack = [...goodStack().filter((r) => r.type !== TYPES.peerAuthentication), peerAuthentication("PERMISSIVE")];
  const diags = await analyzeStack(stack);
  expect(diags).toHaveLength(1);
  expect(diags[0].getPolicyname()).toBe("mesh-mtls-strict");
  expect(diags[0].getEnforcementlevel()).toBe(Level.ADVISORY);
  expect(diags[0].getUrn()).toContain("PeerAuthentication::pa-istio-system");
});

test("an unknown value during preview is skipped, a known violation still reported", async () => {
  await configure({});
  const unknownWeight = reviewsCanary("04da6b54-80e4-46f7-96ec-b56ff0331ba9", 10);
  expect(await analyze([unknownWeight])).toEqual([]);
  expect((await analyze([reviewsCanary(90, 20)])).map((d) => d.getPolicyname())).toEqual(["virtualservice-weights-sum-to-100"]);
});

describe("secrets as the SDK delivers them", () => {
  const command = (privateKey: unknown): TestResource => ({
    type: TYPES.remoteCommand,
    name: "read-kubeconfig",
    props: {
      connection: { host: "192.0.2.10", port: 22, user: "debian", privateKey },
      create: "sudo cat /etc/kubernetes/admin.conf",
      logging: "none",
    },
    additionalSecretOutputs: ["stdout", "stderr"],
  });

  test("validateResource sees a secret SSH key unwrapped: nothing to report either way", async () => {
    await configure({});
    expect(await analyze([command(secret("KEY"))])).toEqual([]);
    expect(await analyze([command("KEY")])).toEqual([]);
  });

  test("at level remediate, a plaintext SSH key comes back as a secret; a secret one is left alone", async () => {
    await configure({ "secrets-stay-secret": { level: Level.REMEDIATE } });
    const fixed = await call<analyzerpb.AnalyzeRequest, analyzerpb.RemediateResponse>(client.remediate, analyzeRequest(command("KEY")));
    const remediations = fixed.getRemediationsList();
    expect(remediations).toHaveLength(1);
    expect(remediations[0].getPolicyname()).toBe("secrets-stay-secret");
    const props = remediations[0].getProperties()?.toJavaScript();
    expect(props?.["connection"]).toMatchObject({ privateKey: secret("KEY"), host: "192.0.2.10" });

    const untouched = await call<analyzerpb.AnalyzeRequest, analyzerpb.RemediateResponse>(client.remediate, analyzeRequest(command(secret("KEY"))));
    expect(untouched.getRemediationsList()).toHaveLength(0);
  });
});
