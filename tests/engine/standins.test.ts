// The stand-in `command` and `random` plugins (tests/standins) under the real engine: an inline
// program with the program's own shapes (DebianNode's connection, KubeadmCluster's token, certificate
// key and secret command outputs) against an sshd on 127.0.0.1.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as random from "@pulumi/random";
import { EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { engineEnv, installStandins, pulumiCommand } from "./support/pulumi";
import { LocalSshd, startSshd } from "./support/sshd";

jest.setTimeout(300_000);

const PROJECT = "standins";
let sshd: LocalSshd;
let stateDir: string;
let stack: Stack;
/** One line per create and delete the remote command ran, in order. */
let journal: string;

beforeAll(async () => {
  sshd = await startSshd();
  journal = path.join(sshd.dir, "journal");
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-standins-"));
  const env = engineEnv(stateDir);
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  installStandins(env.PULUMI_HOME);

  const program = async () => {
    const config = new pulumi.Config();
    const connection = {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      privateKey: pulumi.secret(sshd.privateKey),
      dialErrorLimit: 4,
      perDialTimeout: 15,
    };
    const tokenId = new random.RandomPassword("token-id", { length: 6, upper: false, special: false });
    const certificateKey = new random.RandomBytes("certificate-key", { length: 32 });
    const init = new command.remote.Command(
      "init",
      {
        connection,
        create: pulumi.secret(
          pulumi.interpolate`echo "create $(date +%s%N)" >> ${journal}; echo "token ${tokenId.result} key ${certificateKey.hex}"; echo init-progress >&2`,
        ),
        delete: `echo "delete after: $PULUMI_COMMAND_STDERR" >> ${journal}`,
        logging: "stderr",
        triggers: [config.get("trigger") ?? "a"],
      },
      { additionalSecretOutputs: ["stdout", "stderr"] },
    );
    return { stdout: init.stdout, token: tokenId.result, hex: certificateKey.hex, base64: certificateKey.base64 };
  };
  stack = await LocalWorkspace.createOrSelectStack(
    { stackName: "standins", projectName: PROJECT, program },
    {
      envVars: env,
      pulumiHome: env.PULUMI_HOME,
      pulumiCommand: await pulumiCommand(),
      projectSettings: { name: PROJECT, runtime: "nodejs" },
    },
  );
}, 120_000);

afterAll(async () => {
  if (stack !== undefined) {
    await stack.destroy().catch(() => undefined);
    await stack.workspace.removeStack("standins", { force: true }).catch(() => undefined);
  }
  await sshd?.stop();
  if (stateDir !== undefined) {
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
});

function journalLines(): string[] {
  return fs.existsSync(journal) ? fs.readFileSync(journal, "utf8").trim().split("\n").filter((l) => l !== "") : [];
}

function stateText(): string {
  const dir = path.join(stateDir, ".pulumi", "stacks", PROJECT);
  return fs.readFileSync(path.join(dir, "standins.json"), "utf8");
}

/**
 * What the engine printed and logged during an operation: its output lines and the messages of its
 * diagnostic events (where a provider's log goes). Resource events are left out: they carry the
 * resources' properties themselves. So are debug diagnostics: the Node.js SDK's own debug lines
 * ("RegisterResource RPC finished: ... resp: ...") print resources' outputs, secrets included; a
 * user sees them only with --debug, and they are the SDK's, not a provider's.
 */
function recorder(): { lines: string[]; events: EngineEvent[]; text(): string } {
  const lines: string[] = [];
  const events: EngineEvent[] = [];
  const messages = () =>
    events
      .filter((e) => ["info", "info#err", "warning", "error"].includes(e.diagnosticEvent?.severity ?? "debug"))
      .map((e) => e.diagnosticEvent?.message ?? "")
      .join("\n");
  return { lines, events, text: () => lines.join("") + messages() };
}

let firstUp: { token: string; hex: string; base64: string; stdout: string };
let firstUpLog = "";

test("stand-in: up creates the password, the bytes and the remote command over SSH", async () => {
  const rec = recorder();
  const res = await stack.up({ onOutput: (l) => rec.lines.push(l), onEvent: (e) => rec.events.push(e) });
  firstUpLog = rec.text();
  expect(res.summary.result).toBe("succeeded");
  expect(res.summary.resourceChanges).toEqual({ create: 4 });
  const outputs = res.outputs;
  firstUp = {
    token: String(outputs.token.value),
    hex: String(outputs.hex.value),
    base64: String(outputs.base64.value),
    stdout: String(outputs.stdout.value),
  };
  expect(firstUp.token).toMatch(/^[a-z0-9]{6}$/);
  expect(firstUp.hex).toMatch(/^[0-9a-f]{64}$/);
  expect(Buffer.from(firstUp.base64, "base64").toString("hex")).toBe(firstUp.hex);
  // The remote command saw the random values and its stdout came back, secret.
  expect(firstUp.stdout).toBe(`token ${firstUp.token} key ${firstUp.hex}`);
  for (const key of ["stdout", "token", "hex", "base64"]) {
    expect(outputs[key].secret).toBe(true);
  }
  expect(journalLines().filter((l) => l.startsWith("create "))).toHaveLength(1);
});

test("stand-in: with logging stderr, the command's stdout (token and key) is nowhere in the engine's output or events", () => {
  expect(firstUpLog).not.toContain(firstUp.token + " key");
  expect(firstUpLog).not.toContain(firstUp.hex);
  expect(firstUpLog).not.toContain(sshd.privateKey.split("\n")[1]);
  // stderr was streamed to the engine's log.
  expect(firstUpLog).toContain("init-progress");
});

test("stand-in: the state file holds no secret output or key in plain text", () => {
  const state = stateText();
  expect(state).not.toContain(firstUp.hex);
  expect(state).not.toContain(`token ${firstUp.token}`);
  expect(state).not.toContain(sshd.privateKey.split("\n")[1]);
  // The secret outputs are there, encrypted with the stack's passphrase.
  expect(state).toMatch(/"stdout":\{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext"/);
  // Like the real provider, a RandomBytes' id is its base64 value, and an id is never encrypted:
  // whoever reads the state can read these bytes (the program's certificate key).
  expect(state).toContain(`"id":"${firstUp.base64}"`);
});

test("stand-in: a second up changes nothing and runs nothing", async () => {
  const res = await stack.up();
  expect(res.summary.resourceChanges).toEqual({ same: 4 });
  expect(res.outputs.token.value).toBe(firstUp.token);
  expect(res.outputs.hex.value).toBe(firstUp.hex);
  expect(journalLines()).toHaveLength(1);
});

test("stand-in: a triggers change replaces the command: create again, then the old one's delete", async () => {
  await stack.setConfig("trigger", { value: "b" });
  const res = await stack.up();
  expect(res.summary.resourceChanges).toEqual({ replace: 1, same: 3 });
  const lines = journalLines();
  expect(lines).toHaveLength(3);
  expect(lines[1]).toMatch(/^create /);
  // Create-before-delete; the delete sees the replaced command's stderr in PULUMI_COMMAND_STDERR.
  expect(lines[2]).toBe("delete after: init-progress");
  expect(res.outputs.token.value).toBe(firstUp.token);
});

test("stand-in: destroy runs the delete command and removes everything", async () => {
  const res = await stack.destroy();
  expect(res.summary.resourceChanges).toEqual({ delete: 4 });
  const lines = journalLines();
  expect(lines).toHaveLength(4);
  expect(lines[3]).toBe("delete after: init-progress");
});
