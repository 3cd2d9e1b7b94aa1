// A real Pulumi engine for tests: the CLI, language host and Kubernetes provider built by
// scripts/toolchain.sh, a file backend in a temp folder, and a stack of the project made from a
// committed stack file with the cluster's kubeconfig put in.
import { execFileSync } from "child_process";
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
    // `npm test` type-checks with tsc first; the engine need not type-check again on every run.
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
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
export function stateFileText(s: EngineStack): string {
  const dir = path.join(s.stateDir, ".pulumi", "stacks", PROJECT);
  const file = fs.existsSync(path.join(dir, `${s.name}.json`)) ? path.join(dir, `${s.name}.json`) : path.join(dir, `${s.name}.json.gz`);
  return fs.readFileSync(file, "utf8");
}
