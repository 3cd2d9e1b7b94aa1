// Issue 22, host keys, over SSH on 127.0.0.1 only: the preflight reads the key a server presents and
// never authenticates; up stops on a key that is not the pinned one before anything is registered;
// every connection the program registers carries the pinned key; npm run host-keys reads every key type.
// Servers: the ssh2 package's, in this process (three host keys), and OpenSSH's sshd where installed.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Connection, Server } from "ssh2";
import { fingerprint, parseHostKey, HostKey } from "../../config/hostKeys";
import { hostKeyProblems, presentedHostKey } from "../../config/preflight";
import { parseLabConfig } from "../../config/schema";
import { hostKeysReport } from "../../tools/hostKeys";
import { SSHD, startSshd } from "../engine/support/sshd";
import { Recorded, resolve, runProgram } from "./harness";

const NS = "kubeadm-istio-lab";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-host-keys-ssh-"));

/** A host key pair made by ssh-keygen: the private key for a server, the public line config takes. */
function hostKeyPair(name: string, args: string[]): { privateKey: Buffer; key: HostKey } {
  const file = path.join(tmp, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", "", "-f", file, ...args]);
  const key = parseHostKey(fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "));
  if ("error" in key) throw new Error(key.error);
  return { privateKey: fs.readFileSync(file), key };
}

const ed25519 = hostKeyPair("ed25519", ["-t", "ed25519"]);
const ecdsa = hostKeyPair("ecdsa", ["-t", "ecdsa", "-b", "256"]);
const rsa = hostKeyPair("rsa", ["-t", "rsa", "-b", "2048"]);
const stranger = hostKeyPair("stranger", ["-t", "ed25519"]);

// The ssh2 server: counts connections and every authentication request it is sent.
let server: Server;
let port: number;
let connections = 0;
const authentications: string[] = [];
// A port that accepts TCP and never says anything.
let silent: net.Server;
let silentPort: number;
const silentSockets: net.Socket[] = [];

beforeAll(async () => {
  server = new Server({ hostKeys: [ed25519.privateKey, ecdsa.privateKey, rsa.privateKey] }, (client: Connection) => {
    connections++;
    client.on("authentication", (ctx) => {
      authentications.push(ctx.method);
      ctx.reject();
    });
    // The client hangs up mid-handshake, by design.
    client.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as net.AddressInfo).port;
  silent = net.createServer((s) => silentSockets.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  silentPort = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  silentSockets.forEach((s) => s.destroy());
  await Promise.all([server, silent].map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => expect(authentications).toEqual([]));

describe("the preflight reads the presented key and ends the exchange before authentication", () => {
  test("each type offered gets the server's key of that type; a type it lacks is reported as missing", async () => {
    const before = connections;
    for (const { key } of [ed25519, ecdsa, rsa]) {
      const presented = await presentedHostKey("127.0.0.1", port, key.type, 5000);
      expect("key" in presented && presented.key.equals(key.blob)).toBe(true);
    }
    expect(await presentedHostKey("127.0.0.1", port, "ecdsa-sha2-nistp384", 5000)).toEqual({ noKeyOfType: true });
    expect(connections - before).toBe(4);
  });

  test("the pinned key passes; another one stops up naming node, address, port and both fingerprints", async () => {
    const nodes = [
      { name: "nieve", address: "127.0.0.1", port, hostKey: ed25519.key.text },
      { name: "sansa", address: "127.0.0.1", port, hostKey: stranger.key.text },
      { name: "arya", address: "127.0.0.1", port },
    ];
    const problems = await hostKeyProblems(NS, nodes, "dev", 5000);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`node sansa at 127.0.0.1:${port} presents a different SSH host key than kubeadm-istio-lab:nodes[1].hostKey: `);
    expect(problems[0]).toContain(`pinned ssh-ed25519 ${fingerprint(stranger.key)}, presented ssh-ed25519 ${fingerprint(ed25519.key)}.`);
    expect(problems[0]).toContain("update kubeadm-istio-lab:nodes[1].hostKey");
  });

  test("a closed port and a server that never speaks are reported within the timeout", async () => {
    expect(await presentedHostKey("127.0.0.1", 1, "ssh-ed25519", 2000)).toEqual({ error: "connect ECONNREFUSED 127.0.0.1:1" });
    const started = Date.now();
    const presented = await presentedHostKey("127.0.0.1", silentPort, "ssh-ed25519", 500);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(presented).toHaveProperty("error");
  });
});

describe("npm run host-keys against the server", () => {
  test("prints each key type it presents with its fingerprint, and the node with the key to pin", async () => {
    const config = parseLabConfig(
      { nodes: [{ name: "nieve", role: "controlPlane", address: "127.0.0.1", port, user: "debian" }], hasSshPrivateKey: true, hasKubeconfig: false },
      { requireHostKeys: false },
    );
    const report = await hostKeysReport("lab", config);
    expect(report.ok).toBe(true);
    const lines = report.text.split("\n");
    expect(lines).toContain(`    #   ssh-ed25519          ${fingerprint(ed25519.key)}  (pinned below)`);
    expect(lines).toContain(`    #   ecdsa-sha2-nistp256  ${fingerprint(ecdsa.key)}`);
    expect(lines).toContain(`    #   ssh-rsa              ${fingerprint(rsa.key)}`);
    expect(lines).toContain(`    - { name: nieve, role: controlPlane, address: 127.0.0.1, port: ${port}, user: debian, hostKey: "${ed25519.key.text}" }`);
  });
});

describe("the whole program under mocks, its up dialling the server", () => {
  const node = (hostKey?: string) => ({ name: "nieve", role: "controlPlane", address: "127.0.0.1", port, user: "debian", ...(hostKey === undefined ? {} : { hostKey }) });
  const config = (nodeValue: Record<string, unknown>, cluster: Record<string, unknown> = {}) => ({
    cluster: { provision: true, reachabilityTimeoutSeconds: 5, ...cluster },
    nodes: [nodeValue],
    sshPrivateKey: "test-key",
  });

  test("a node presenting another key than the pinned one: up stops before anything is registered", async () => {
    const recorded: Recorded[] = [];
    const failure = await runProgram(config(node(stranger.key.text)), { preview: false, secretKeys: ["sshPrivateKey"], recorded }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(pulumi.RunError.isInstance(failure)).toBe(true);
    expect((failure as Error).message).toMatch(
      new RegExp(`^nothing was changed:\\n  - node nieve at 127\\.0\\.0\\.1:${port} presents a different SSH host key than kubeadm-istio-lab:nodes\\[0\\]\\.hostKey`),
    );
    expect(recorded.map((r) => r.type)).toEqual([]);
  });

  test("the pinned key: up goes on, and every remote command's connection carries it", async () => {
    const run = await runProgram(config(node(ed25519.key.text)), { preview: false, secretKeys: ["sshPrivateKey"] });
    const commands = run.byType("command:remote:Command");
    expect(commands.length).toBeGreaterThanOrEqual(5);
    for (const c of commands) {
      const connection = (await resolve(c.inputs.connection)).value as { host: string; port: number; hostKey?: string };
      expect([c.name, connection.hostKey]).toEqual([c.name, ed25519.key.text]);
    }
    expect(run.warnings.filter((w) => /hostKey|host key/.test(w))).toEqual([]);
  });

  test("the opt-out: no key, no check, and the warning on up as on preview", async () => {
    for (const preview of [false, true]) {
      const run = await runProgram(config(node(), { insecureSkipHostKeyCheck: true }), { preview, secretKeys: ["sshPrivateKey"] });
      expect(run.warnings.filter((w) => w.startsWith("kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck is true: node nieve has no hostKey"))).toHaveLength(1);
      const connection = (await resolve(run.byType("command:remote:Command")[0].inputs.connection)).value as Record<string, unknown>;
      expect(connection).not.toHaveProperty("hostKey");
    }
  });
});

// OpenSSH itself where it is installed (the engine tests' sshd: one ed25519 host key).
const withSshd = fs.existsSync(SSHD) ? describe : describe.skip;
withSshd("against OpenSSH's sshd on 127.0.0.1", () => {
  let sshd: Awaited<ReturnType<typeof startSshd>>;
  let hostKey: HostKey;
  beforeAll(async () => {
    sshd = await startSshd();
    const key = parseHostKey(fs.readFileSync(path.join(sshd.dir, "host_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" "));
    if ("error" in key) throw new Error(key.error);
    hostKey = key;
  });
  afterAll(() => sshd?.stop());

  test("its key passes, another ed25519 key is a mismatch, and an ECDSA pin finds no key of that type", async () => {
    const at = { address: sshd.host, port: sshd.port };
    expect(await hostKeyProblems(NS, [{ name: "nieve", ...at, hostKey: hostKey.text }], "dev", 5000)).toEqual([]);
    const [mismatch] = await hostKeyProblems(NS, [{ name: "nieve", ...at, hostKey: stranger.key.text }], "dev", 5000);
    expect(mismatch).toContain(`pinned ssh-ed25519 ${fingerprint(stranger.key)}, presented ssh-ed25519 ${fingerprint(hostKey)}.`);
    // ssh-keygen's fingerprint of the server's own file is the one the message shows.
    const keygen = execFileSync("ssh-keygen", ["-lf", path.join(sshd.dir, "host_key.pub")], { encoding: "utf8" }).split(" ")[1];
    expect(fingerprint(hostKey)).toBe(keygen);
    const [missing] = await hostKeyProblems(NS, [{ name: "nieve", ...at, hostKey: ecdsa.key.text }], "dev", 5000);
    expect(missing).toMatch(new RegExp(`^node nieve at 127\\.0\\.0\\.1:${sshd.port} presents no ecdsa-sha2-nistp256 host key`));
  });
});
