// Which stacks a workflow works on, as a JSON list for a job matrix.
//
//   npx ts-node --transpile-only tools/summary/stacks.ts --touched BASE HEAD
//       stacks whose Pulumi.<stack>.yaml changed between two commits, or every stack when the program
//       itself changed (index.ts, components/, config/, specs/, policies/, Pulumi.yaml, packages)
//   npx ts-node --transpile-only tools/summary/stacks.ts --deploy
//       stacks that declare they deploy from CI: `ci:deployOnMain: true` in their Pulumi.<stack>.yaml
//       (the `ci` namespace is not the program's, so the program never reads it)
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { listStacks } from "../stackConfig";

/** Paths whose change can change every stack's preview. */
const PROGRAM_PATHS = [/^index\.ts$/, /^Pulumi\.yaml$/, /^(components|config|specs|policies)\//, /^package(-lock)?\.json$/, /^tsconfig\.json$/];

/** Pure: changed paths (relative to the repository root) and the stacks that exist → stacks to preview. */
export function touchedStacks(changed: readonly string[], stacks: readonly string[]): string[] {
  if (changed.some((f) => PROGRAM_PATHS.some((re) => re.test(f)))) return [...stacks].sort();
  const touched = new Set<string>();
  for (const f of changed) {
    const m = /^Pulumi\.(.+)\.yaml$/.exec(f);
    if (m && stacks.includes(m[1])) touched.add(m[1]);
  }
  return [...touched].sort();
}

/** The declaration: config key `ci:deployOnMain` set to true (YAML boolean or "true"). */
export const DEPLOY_KEY = "ci:deployOnMain";

export function declaresDeploy(stackFileText: string): boolean {
  const doc = (parse(stackFileText) ?? {}) as { config?: Record<string, unknown> };
  const v = doc.config?.[DEPLOY_KEY];
  return v === true || v === "true";
}

export function deployStacks(root: string): string[] {
  return listStacks(root)
    .filter((s) => declaresDeploy(fs.readFileSync(path.join(root, `Pulumi.${s}.yaml`), "utf8")))
    .sort();
}

function changedFiles(root: string, base: string, head: string): string[] {
  const out = execFileSync("git", ["diff", "--name-only", `${base}...${head}`], { cwd: root, encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "");
}

if (require.main === module) {
  const root = path.resolve(__dirname, "..", "..");
  const [mode, base, head] = process.argv.slice(2);
  let stacks: string[];
  if (mode === "--touched" && base && head) stacks = touchedStacks(changedFiles(root, base, head), listStacks(root));
  else if (mode === "--deploy") stacks = deployStacks(root);
  else {
    process.stderr.write("usage: stacks.ts --touched BASE HEAD | --deploy\n");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(stacks) + "\n");
}
