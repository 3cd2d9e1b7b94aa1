// Reads a stack's config file (Pulumi.<stack>.yaml) into the validated LabConfig, without the engine:
// for tools that render or inspect what the program would send (istioctl, the routes command).
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { CONFIG_NAMESPACE, LabConfig, parseLabConfig } from "../config/schema";

export function readStackConfig(root: string, stack: string): LabConfig {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new Error(`no stack file ${file}; stacks here: ${listStacks(root).join(", ") || "none"}`);
  const doc = (parse(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config = doc.config ?? {};
  const get = (key: string): unknown => config[`${CONFIG_NAMESPACE}:${key}`];
  return parseLabConfig({
    cluster: get("cluster"),
    nodes: get("nodes"),
    istio: get("istio"),
    bookinfo: get("bookinfo"),
    weave: get("weave"),
    traffic: get("traffic"),
    // Secrets are not needed to render routes; their presence is checked by the program itself.
    hasSshPrivateKey: true,
    hasKubeconfig: true,
  });
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
