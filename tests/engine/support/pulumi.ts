// A real Pulumi engine for tests: the CLI, language host and Kubernetes provider built by
// scripts/toolchain.sh, a file backend in a temp folder, and a stack of the project made from a
// committed stack file with the cluster's kubeconfig put in.
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { labCacheDir, pathWithToolchain, REPO_ROOT, TOOLCHAIN_SCRIPT, toolPath } from "./cluster";

export const PROJECT = "kubeadm-istio-lab";
export const PASSPHRASE = "engine-tests-only";

export interface EngineStack {
  stack: Stack;
  name: string;
  stateDir: string;
  /** The stack's settings file in the project folder (removed by dispose). */
  settingsFile: string;
  env: Record<string, string>;
  /** Lines the engine printed during the last operation run through `capture`. */
  dispose(): Promise<void>;
}

export function engineEnv(stateDir: string): Record<string, string> {
  // The Kubernetes provider writes the kubeconfig (admin client key included) to a temp file it never
  // removes: keep its temp files in the state folder, which each test removes.
  const tmp = path.join(stateDir, "tmp");
  fs.mkdirSync(tmp, { recursive: true });
  return {
    PATH: pathWithToolchain(),
    TMPDIR: tmp,
    PULUMI_BACKEND_URL: `file://${stateDir}`,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_HOME: path.join(stateDir, ".pulumi-home"),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
  };
}

/** Packages whose provider plugin is a stand-in (tests/standins): the real ones cannot be built here. */
export const STANDIN_PACKAGES = ["command", "random"] as const;

/**
 * Installs the stand-in `command` and `random` plugins into `pulumiHome`'s plugin folder, at the
 * versions the npm SDKs ask the engine for: only an engine run with that PULUMI_HOME finds them.
 * Throws when scripts/toolchain.sh has not built them for the current tests/standins sources.
 */
export function installStandins(pulumiHome: string): void {
  const dir = execFileSync("bash", [TOOLCHAIN_SCRIPT, "--print-standins"], {
    encoding: "utf8",
    env: { ...process.env, LAB_CACHE: labCacheDir() },
  }).trim();
  for (const name of STANDIN_PACKAGES) {
    const binary = path.join(dir, `pulumi-resource-${name}`);
    if (!fs.existsSync(binary)) {
      throw new Error(`stand-in ${binary} is missing: run scripts/toolchain.sh --only standins`);
    }
    const pkgFile = path.join(REPO_ROOT, "node_modules", "@pulumi", name, "package.json");
    const version = (JSON.parse(fs.readFileSync(pkgFile, "utf8")) as { pulumi?: { version?: string } }).pulumi?.version;
    if (version === undefined) {
      throw new Error(`${pkgFile} names no plugin version`);
    }
    const pluginDir = path.join(pulumiHome, "plugins", `resource-${name}-v${version}`);
    fs.mkdirSync(pluginDir, { recursive: true });
    const link = path.join(pluginDir, `pulumi-resource-${name}`);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(binary, link);
  }
}

/** The CLI built by scripts/toolchain.sh ($LAB_CACHE/bin/pulumi), whatever the caller's PATH. */
export async function pulumiCommand(): Promise<PulumiCommand> {
  toolPath("pulumi");
  // PulumiCommand.get looks for <root>/bin/pulumi; its version check would reject our source build's tag.
  return PulumiCommand.get({ root: labCacheDir(), skipVersionCheck: true });
}

/**
 * The local stack's Istio section for a cluster with the stand-in Istio (startCluster() without
 * `istio`): use the Istio "already installed" instead of installing the charts.
 */
export function standInIstio(config: Record<string, unknown>): void {
  const { mtls } = (config.istio ?? {}) as { mtls?: unknown };
  config.istio = { install: false, ...(mtls !== undefined ? { mtls } : {}) };
}

/**
 * Creates stack `name` of the project from `Pulumi.<base>.yaml`, with `edit` applied to its config
 * (keys without the project prefix), in a fresh file backend. The local stack installs real Istio
 * (a cluster started with `istio: true`); unless `options.realIstio`, its stack here uses the
 * stand-in cluster's Istio instead (standInIstio).
 */
export async function createStack(
  name: string,
  base: string,
  edit: (config: Record<string, unknown>) => void,
  options: { realIstio?: boolean } = {},
): Promise<EngineStack> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-state-"));
  const env = engineEnv(stateDir);
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const doc = parse(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${base}.yaml`), "utf8")) as { config: Record<string, unknown> };
  const config = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(`${PROJECT}:`, ""), v]));
  if (base === "local" && options.realIstio !== true) standInIstio(config);
  edit(config);
  const settingsFile = path.join(REPO_ROOT, `Pulumi.${name}.yaml`);
  fs.writeFileSync(
    settingsFile,
    stringify({ config: Object.fromEntries(Object.entries(config).map(([k, v]) => [`${PROJECT}:${k}`, v])) }),
  );
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: name, workDir: REPO_ROOT },
    { envVars: env, pulumiHome: env.PULUMI_HOME, pulumiCommand: await pulumiCommand() },
  );
  return {
    stack,
    name,
    stateDir,
    settingsFile,
    env,
    async dispose() {
      await stack.workspace.removeStack(name, { force: true }).catch(() => undefined);
      fs.rmSync(settingsFile, { force: true });
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** The stack's state file (file backend), as text. */
/** The stack's state file in its file backend. */
export function stateFilePath(s: EngineStack): string {
  const dir = path.join(s.stateDir, ".pulumi", "stacks", PROJECT);
  return fs.existsSync(path.join(dir, `${s.name}.json`)) ? path.join(dir, `${s.name}.json`) : path.join(dir, `${s.name}.json.gz`);
}

export function stateFileText(s: EngineStack): string {
  return fs.readFileSync(stateFilePath(s), "utf8");
}

/** One line of the engine's event log (`pulumi ... --event-log FILE`): the parts the tests read. */
export interface EngineEvent {
  sequence?: number;
  resourcePreEvent?: { metadata: { op: string; urn: string; type: string } };
  resOutputsEvent?: { metadata: { op: string; urn: string; type: string } };
  diagnosticEvent?: { message: string; severity: string; urn?: string };
  summaryEvent?: { resourceChanges?: Record<string, number> };
  cancelEvent?: Record<string, never>;
}

export interface CliExit {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Set when the run outlasted timeoutMs and was killed: the processes of its tree at that moment. */
  timedOut?: { tree: string[] };
}

/** A `pulumi` CLI process on a test stack, started by `startCli`. */
export interface CliRun {
  readonly pid: number;
  /** The events the engine has written so far. */
  events(): EngineEvent[];
  /** Resolves with the first event that matches; rejects when the CLI exits first or after timeoutMs. */
  waitForEvent(match: (e: EngineEvent) => boolean, timeoutMs: number): Promise<EngineEvent>;
  /** Sends a signal to the CLI process alone, as a terminal's Ctrl-C does (plugins run in their own process groups). */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL to the CLI and every process below it (language host, program, providers) at once, as when a CI runner dies. */
  killTree(): void;
  /** Resolves when the CLI has exited (after timeoutMs it and its tree are killed). */
  readonly exited: Promise<CliExit>;
}

/** Pids of every process below `pid` (children, their children, ...), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** "PID command line" of a process, for messages. */
function commandLine(pid: number): string {
  try {
    return `${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim().slice(0, 200)}`;
  } catch {
    return `${pid} (gone)`;
  }
}

/**
 * Runs the toolchain's `pulumi` CLI on stack `s` (its backend, passphrase, PULUMI_HOME and private
 * TMPDIR), with an event log that the test can watch while the command runs.
 */
export function startCli(s: EngineStack, args: readonly string[], options: { timeoutMs: number }): CliRun {
  const eventLog = path.join(s.stateDir, `events-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`);
  const child = spawn(toolPath("pulumi"), [...args, "--stack", s.name, "--non-interactive", "--event-log", eventLog], {
    cwd: REPO_ROOT,
    // --event-log is one of the CLI's debug flags (the Automation API sets the same).
    env: { ...process.env, ...s.env, PULUMI_DEBUG_COMMANDS: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("pulumi could not be started");
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let running = true;
  const killTree = () => {
    // Collect the tree first: once the CLI is gone its children are re-parented and cannot be found.
    const tree = [pid, ...descendants(pid)];
    for (const p of tree) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  let timedOut: CliExit["timedOut"];
  const timer = setTimeout(() => {
    timedOut = { tree: [pid, ...descendants(pid)].map(commandLine) };
    killTree();
  }, options.timeoutMs);
  const exited = new Promise<CliExit>((resolve) => {
    const done = (code: number | null, signal: string | null) => {
      running = false;
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    };
    child.on("close", done);
    // A process that escaped the kill may still hold the CLI's output pipes, and then "close" never
    // comes: the exit is enough once its output had a moment to drain.
    child.on("exit", (code, signal) => setTimeout(() => done(code, signal), 5_000).unref());
  });
  const events = (): EngineEvent[] => {
    let text: string;
    try {
      text = fs.readFileSync(eventLog, "utf8");
    } catch {
      return [];
    }
    // The last line may still be being written.
    return text.split("\n").flatMap((line) => {
      try {
        return line.trim() === "" ? [] : [JSON.parse(line) as EngineEvent];
      } catch {
        return [];
      }
    });
  };
  return {
    pid,
    events,
    async waitForEvent(match, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events().find(match);
        if (found !== undefined) return found;
        if (!running) {
          const exit = await exited;
          throw new Error(`pulumi ${args.join(" ")} exited (code ${exit.code}) before the awaited event:\n${exit.stdout}\n${exit.stderr}`);
        }
        if (Date.now() > deadline) throw new Error(`no such event within ${timeoutMs} ms from pulumi ${args.join(" ")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    signal(sig) {
      if (running) process.kill(pid, sig);
    },
    killTree,
    exited,
  };
}

/** Lock files of the stack in its file backend (the engine holds one while an update runs). */
export function stackLocks(s: EngineStack): string[] {
  const dir = path.join(s.stateDir, ".pulumi", "locks");
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((f) => path.join(dir, f))
    .filter((f) => f.endsWith(".json") && fs.statSync(f).isFile());
}

export interface StateResource {
  urn: string;
  type: string;
  id?: string;
  inputs?: Record<string, unknown>;
}

export interface Checkpoint {
  resources: StateResource[];
  pendingOperations: { type: string; resource: StateResource }[];
}

/** The stack's resources and pending operations, from its state file. */
export function checkpoint(s: EngineStack): Checkpoint {
  const doc = JSON.parse(stateFileText(s)) as {
    checkpoint: { latest?: { resources?: StateResource[]; pending_operations?: { type: string; resource: StateResource }[] } };
  };
  return { resources: doc.checkpoint.latest?.resources ?? [], pendingOperations: doc.checkpoint.latest?.pending_operations ?? [] };
}
