// A real Pulumi engine for tests: the CLI, language host and Kubernetes provider built by
// scripts/toolchain.sh, a file backend in a temp folder, and a stack of the project made from a
// committed stack file with the cluster's kubeconfig put in.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { labCacheDir, pathWithToolchain, REPO_ROOT, toolPath } from "./cluster";

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
  return {
    PATH: pathWithToolchain(),
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

/** The CLI built by scripts/toolchain.sh ($LAB_CACHE/bin/pulumi), whatever the caller's PATH. */
export async function pulumiCommand(): Promise<PulumiCommand> {
  toolPath("pulumi");
  // PulumiCommand.get looks for <root>/bin/pulumi; its version check would reject our source build's tag.
  return PulumiCommand.get({ root: labCacheDir(), skipVersionCheck: true });
}

/**
 * Creates stack `name` of the project from `Pulumi.<base>.yaml`, with `edit` applied to its config
 * (keys without the project prefix), in a fresh file backend.
 */
export async function createStack(
  name: string,
  base: string,
  edit: (config: Record<string, unknown>) => void,
): Promise<EngineStack> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-state-"));
  const env = engineEnv(stateDir);
  fs.mkdirSync(env.PULUMI_HOME, { recursive: true });
  const doc = parse(fs.readFileSync(path.join(REPO_ROOT, `Pulumi.${base}.yaml`), "utf8")) as { config: Record<string, unknown> };
  const config = Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(`${PROJECT}:`, ""), v]));
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
