// Routing changes from stack config alone, with no engine, backend or secret: the VirtualServices the
// program would render from the base branch's Pulumi.<stack>.yaml and from the pull request's, put
// through the same words as a preview. For pull requests from forks, which get no secrets.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LabConfig } from "../../config/schema";
import { SERVICE_NAMES } from "../../specs/catalogue";
import { buildVirtualService } from "../../specs/routes";
import { readStackConfig } from "../stackConfig";
import { describeRouting, describeRoutingChange } from "./routing";
import { RoutingChange, Summary } from "./summarize";

/** Routing lines between two validated configs (undefined: the stack is new). Pure. */
export function configRoutingChanges(before: LabConfig | undefined, after: LabConfig): RoutingChange[] {
  const out: RoutingChange[] = [];
  for (const service of SERVICE_NAMES) {
    const next = buildVirtualService(service, after.traffic[service], after.bookinfo.namespace).spec;
    if (!before) {
      out.push({ service, op: "create", line: `${service}: new routes: ${describeRouting(next)}` });
      continue;
    }
    const prev = buildVirtualService(service, before.traffic[service], before.bookinfo.namespace).spec;
    const parts = describeRoutingChange(prev, next);
    if (parts.length) out.push({ service, op: "update", line: `${service}: ${parts.join("; ")}` });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

/** A Summary holding only routing: what `--config-only` renders. */
export function configOnlySummary(stack: string, routing: RoutingChange[]): Summary {
  return {
    stack,
    scope: "config",
    noChanges: false,
    routing,
    destructive: [],
    other: [],
    violations: [],
    errors: [],
    warnings: [],
    succeeded: true,
    policyPacks: [],
  };
}

/** The stack's config at a git revision, or undefined when the file does not exist there. */
export function stackConfigAt(root: string, stack: string, ref: string): LabConfig | undefined {
  let text: string;
  try {
    text = execFileSync("git", ["show", `${ref}:Pulumi.${stack}.yaml`], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "summary-base-"));
  try {
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text);
    return readStackConfig(dir, stack);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function configOnly(root: string, stack: string, baseRef: string): Summary {
  return configOnlySummary(stack, configRoutingChanges(stackConfigAt(root, stack, baseRef), readStackConfig(root, stack)));
}
