// Reads a stack's config file (Pulumi.<stack>.yaml) into the validated LabConfig, without the engine:
// for tools that render or inspect what the program would send (istioctl, the routes command).
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { UsageError } from "./cli";
import { CONFIG_NAMESPACE, LabConfig, parseLabConfig, rawConfigFrom } from "../config/schema";

export function readStackConfig(root: string, stack: string): LabConfig {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new UsageError(`no stack file ${file}; stacks here: ${listStacks(root).join(", ") || "none"}`);
  const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config = doc.config ?? {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  const values = Object.fromEntries(
    Object.entries(config).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]),
  );
  // Secrets and host keys are not needed to render routes or to read the nodes' keys; the program itself
  // requires them.
  return parseLabConfig(rawConfigFrom(values, { hasSshPrivateKey: true, hasKubeconfig: true, stack }), { requireHostKeys: false });
}

export function listStacks(root: string): string[] {
  return fs
    .readdirSync(root)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined);
}

/** `--stack NAME` from argv, or the only/first stack. */
export function stackArg(argv: string[]): string | undefined {
  const i = argv.indexOf("--stack");
  return i >= 0 ? argv[i + 1] : undefined;
}
