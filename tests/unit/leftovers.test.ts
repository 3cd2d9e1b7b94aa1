// What a killed run leaves, and the tools that deal with it: the recovery step's plan (tools/recover.ts),
// private temp folders (tools/privateTmp.ts) and the credential scan (tools/credential-scan.ts).
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CREDENTIAL_PATTERNS, scanFiles } from "../../tools/credential-scan";
import { privateTmpdir, sweepPrivateTmp } from "../../tools/privateTmp";
import { fileBackendDir, fileBackendLocks, interruptedWrites, kubernetesId, parseArgs, refreshArgs } from "../../tools/recover";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-leftovers-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const op = (type: string, urn: string, metadata?: Record<string, unknown>) => ({ type, resource: { urn, type: urn.split("::")[2], inputs: { metadata } } });

describe("recover: the plan for interrupted operations", () => {
  test("a Kubernetes object's ID is namespace/name, or name when it has no namespace", () => {
    expect(kubernetesId(op("creating", "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::d", { name: "reviews-v2", namespace: "bookinfo" }))).toBe("bookinfo/reviews-v2");
    expect(kubernetesId(op("creating", "urn:pulumi:s::p::kubernetes:core/v1:Namespace::n", { name: "bookinfo" }))).toBe("bookinfo");
    expect(kubernetesId(op("creating", "urn:pulumi:s::p::command:remote:Command::init"))).toBeUndefined();
    expect(kubernetesId(op("creating", "urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::auto", {}))).toBeUndefined();
  });

  test("interrupted Kubernetes creates are imported by ID, others cleared; updates and deletes are left to the refresh", () => {
    const plan = refreshArgs([
      op("creating", "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::d", { name: "details-v1", namespace: "bookinfo" }),
      op("creating", "urn:pulumi:s::p::command:remote:Command::init"),
      op("updating", "urn:pulumi:s::p::kubernetes:core/v1:Service::svc", { name: "details", namespace: "bookinfo" }),
    ]);
    expect(plan.args).toEqual([
      "--import-pending-creates", "urn:pulumi:s::p::kubernetes:apps/v1:Deployment::d",
      "--import-pending-creates", "bookinfo/details-v1",
      "--clear-pending-creates",
    ]);
    expect(plan.cleared).toEqual(["urn:pulumi:s::p::command:remote:Command::init"]);
    expect(refreshArgs([]).args).toEqual([]);
  });

  test("the stack's lock files are read from a file backend; other backends are not guessed at", () => {
    const lockDir = path.join(tmp, "backend", ".pulumi", "locks", "organization", "kubeadm-istio-lab", "local");
    fs.mkdirSync(lockDir, { recursive: true });
    fs.writeFileSync(path.join(lockDir, "abc.json"), JSON.stringify({ pid: 4242, username: "u", hostname: "h", timestamp: "t" }));
    fs.mkdirSync(path.join(tmp, "backend", ".pulumi", "locks", "organization", "kubeadm-istio-lab", "other"), { recursive: true });
    fs.writeFileSync(path.join(tmp, "backend", ".pulumi", "locks", "organization", "kubeadm-istio-lab", "other", "x.json"), "{}");
    const locks = fileBackendLocks(`file://${path.join(tmp, "backend")}`, "local");
    expect(locks?.map((l) => [l.pid, l.hostname])).toEqual([[4242, "h"]]);
    expect(fileBackendLocks("https://api.pulumi.com", "local")).toBeUndefined();
    expect(fileBackendLocks(`file://${path.join(tmp, "nothing")}`, "local")).toEqual([]);
  });

  test("a state write killed midway: the stack's empty or cut sidecars and orphaned .tmp files are found; whole ones and other stacks' are not", () => {
    const backend = path.join(tmp, "killed-write");
    const put = (rel: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(backend, ".pulumi", rel)), { recursive: true });
      fs.writeFileSync(path.join(backend, ".pulumi", rel), text);
    };
    const attrs = JSON.stringify({ "user.content_type": "text/plain; charset=utf-8", md5: "NMMnLscg5PFlbVZHeu9peg==" });
    // What fileblob leaves when killed between truncating the sidecar and renaming the new file in.
    put("stacks/kubeadm-istio-lab/local.json", '{"version":3}');
    put("stacks/kubeadm-istio-lab/local.json.attrs", "");
    put("stacks/kubeadm-istio-lab/local.json.18a2b3c4d5e6f708.tmp", '{"version":3,"newer":true}');
    put("stacks/kubeadm-istio-lab/local.json.bak", '{"version":3}');
    put("stacks/kubeadm-istio-lab/local.json.bak.attrs", attrs.slice(0, 20));
    put("history/kubeadm-istio-lab/local/local-1.history.json.attrs", attrs);
    put("locks/organization/kubeadm-istio-lab/local/abc.json.attrs", "");
    // Another stack's, and a stack whose name only starts like this one's: not touched.
    put("stacks/kubeadm-istio-lab/local-2.json.attrs", "");
    put("stacks/kubeadm-istio-lab/other.json.attrs", "");
    put("meta.yaml.attrs", "");
    const found = interruptedWrites(backend, "local").map((w) => [path.relative(path.join(backend, ".pulumi"), w.file), w.why]);
    expect(found.sort()).toEqual([
      ["locks/organization/kubeadm-istio-lab/local/abc.json.attrs", "an empty sidecar (reads failed with EOF)"],
      ["stacks/kubeadm-istio-lab/local.json.18a2b3c4d5e6f708.tmp", "a write that never finished (the file it was to replace is unchanged)"],
      ["stacks/kubeadm-istio-lab/local.json.attrs", "an empty sidecar (reads failed with EOF)"],
      ["stacks/kubeadm-istio-lab/local.json.bak.attrs", "a sidecar cut off mid-write"],
    ]);
    expect(interruptedWrites(path.join(tmp, "no-backend"), "local")).toEqual([]);
  });

  test("a file backend's folder: ~ expanded, query dropped; other backends have none", () => {
    expect(fileBackendDir(`file://~/state`)).toBe(path.join(os.homedir(), "state"));
    expect(fileBackendDir("file:///srv/state?no_tmp_dir=true")).toBe("/srv/state");
    expect(fileBackendDir("s3://bucket")).toBeUndefined();
    expect(fileBackendDir(undefined)).toBeUndefined();
  });

  test("arguments: --stack is required", () => {
    expect(() => parseArgs([])).toThrow(/give --stack NAME/);
    expect(parseArgs(["--stack", "local", "--force"])).toMatchObject({ stack: "local", force: true });
  });
});

describe("private temp folders", () => {
  test("a run's folder is private and removed by remove(); folders of dead runs are swept, live ones kept", async () => {
    const root = path.join(tmp, "cache", "tmp");
    process.env.LAB_CACHE = path.join(tmp, "cache");
    try {
      const mine = privateTmpdir();
      expect(path.dirname(mine.dir)).toBe(root);
      expect(fs.statSync(root).mode & 0o777).toBe(0o700);
      // A process that has exited: its pid is free (until reused), so its folder is stale.
      const child = spawn(process.execPath, ["-e", ""]);
      const deadPid = child.pid ?? 0;
      await new Promise((r) => child.on("exit", r));
      fs.mkdirSync(path.join(root, `run-${deadPid}-stale`));
      fs.writeFileSync(path.join(root, `run-${deadPid}-stale`, "kubeconfig123"), "client-key-data: x");
      expect(sweepPrivateTmp(root)).toEqual([`run-${deadPid}-stale`]);
      expect(fs.existsSync(mine.dir)).toBe(true);
      mine.remove();
      expect(fs.existsSync(mine.dir)).toBe(false);
    } finally {
      delete process.env.LAB_CACHE;
    }
  });
});

describe("credential scan", () => {
  test("finds a client key, a PEM private key and a bootstrap token; skips excluded folders and old files", () => {
    const dir = path.join(tmp, "scan");
    fs.mkdirSync(path.join(dir, "excluded"), { recursive: true });
    fs.writeFileSync(path.join(dir, "kubeconfig1"), "users:\n- user:\n    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVF\n");
    // Keys made here, never committed: an EC key in SEC1 PEM, an RSA key in PKCS#1, one in PKCS#8.
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;
    const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey;
    fs.writeFileSync(path.join(dir, "key.pem"), ec.export({ type: "sec1", format: "pem" }));
    fs.writeFileSync(path.join(dir, "join.yaml"), "discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n");
    fs.writeFileSync(path.join(dir, "notes.txt"), "a certificate: -----BEGIN CERTIFICATE----- and token: none\n");
    fs.writeFileSync(path.join(dir, "excluded", "key.pem"), ec.export({ type: "pkcs8", format: "pem" }));
    const old = path.join(dir, "old.pem");
    fs.writeFileSync(old, rsa.export({ type: "pkcs1", format: "pem" }));
    fs.utimesSync(old, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const { findings, scanned } = scanFiles([dir], { exclude: [path.join(dir, "excluded")], sinceMs: Date.now() - 60_000, patterns: CREDENTIAL_PATTERNS });
    expect(scanned).toBe(4);
    expect(findings.map((f) => [path.basename(f.file), f.what]).sort()).toEqual([
      ["join.yaml", "kubeadm bootstrap token"],
      ["key.pem", "PEM private key"],
      ["kubeconfig1", "kubeconfig client key (client-key-data)"],
    ]);
  });
});
