// The core of `npm run summary`: a parsed preview in, the lines a reviewer reads out. Pure.
//
// Order of the output: routing (per service, before → after), then replaces and deletes (named one
// by one, because they are the changes that hurt), then other creates and updates counted by type,
// then policy violations, errors and warnings. "No changes" when nothing changes.
import { describeRouting, describeRoutingChange } from "./routing";
import { isObject, nameFromUrn, PolicyViolation, Preview, PreviewStep, stackFromUrn } from "./preview";

const VIRTUAL_SERVICE = /^kubernetes:networking\.istio\.io\/v[0-9a-z]+:VirtualService$/;
const REPLACE_OPS = new Set(["replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement"]);

export interface RoutingChange {
  /** The VirtualService's name (Kubernetes metadata.name; the Bookinfo service it routes). */
  service: string;
  op: string;
  /** "reviews: v1 90% → 50%, v2 10% → 50%" */
  line: string;
}

export interface ResourceChange {
  op: "replace" | "delete" | "create" | "update" | string;
  type: string;
  /** Kubernetes namespace/name when known, else the Pulumi resource name. */
  name: string;
  /** Properties that force the replacement (replace only). */
  because: string[];
}

export interface Summary {
  stack?: string;
  /** "config": routing computed from stack config only; nothing else is known. */
  scope?: "preview" | "config";
  noChanges: boolean;
  routing: RoutingChange[];
  /** Replaces and deletes of every type (VirtualServices included): the ones that hurt. */
  destructive: ResourceChange[];
  /** Other creates, updates, ... of resources whose change the routing lines do not already tell. */
  other: ResourceChange[];
  violations: PolicyViolation[];
  errors: string[];
  warnings: string[];
  succeeded: boolean;
  policyPacks: string[];
}


function specOf(state: PreviewStep["old"]): unknown {
  return state?.inputs?.spec ?? state?.outputs?.spec;
}

function k8sNameOf(state: PreviewStep["old"]): string | undefined {
  const meta = state?.inputs?.metadata ?? state?.outputs?.metadata;
  if (!isObject(meta) || typeof meta.name !== "string") return undefined;
  return typeof meta.namespace === "string" ? `${meta.namespace}/${meta.name}` : meta.name;
}

/** Kubernetes namespace/name; "old → new" when a replacement renames or moves the object. */
function k8sName(step: PreviewStep): string {
  const before = k8sNameOf(step.old);
  const after = k8sNameOf(step.new);
  if (before && after && before !== after) return `${before} → ${after}`;
  return after ?? before ?? nameFromUrn(step.urn);
}

function serviceName(step: PreviewStep): string {
  for (const state of [step.new, step.old]) {
    const meta = state?.inputs?.metadata ?? state?.outputs?.metadata;
    if (isObject(meta) && typeof meta.name === "string") return meta.name;
  }
  return nameFromUrn(step.urn);
}

/** One step per resource: a replacement shows in the stream as up to three steps of one URN. */
export function collapseSteps(steps: PreviewStep[]): PreviewStep[] {
  const byUrn = new Map<string, PreviewStep>();
  for (const s of steps) {
    const seen = byUrn.get(s.urn);
    if (!seen) {
      byUrn.set(s.urn, { ...s, op: REPLACE_OPS.has(s.op) ? "replace" : s.op });
      continue;
    }
    if (REPLACE_OPS.has(s.op) || seen.op === "replace") {
      byUrn.set(s.urn, {
        ...seen,
        op: "replace",
        old: seen.old ?? s.old,
        new: s.op === "delete-replaced" ? seen.new ?? s.new : s.new ?? seen.new,
        replaceKeys: [...new Set([...seen.replaceKeys, ...s.replaceKeys])],
        diffKeys: [...new Set([...seen.diffKeys, ...s.diffKeys])],
      });
    }
  }
  return [...byUrn.values()];
}

function routingLine(step: PreviewStep): RoutingChange | undefined {
  const service = serviceName(step);
  const before = specOf(step.old);
  const after = specOf(step.new);
  let parts: string[];
  if (step.op === "create") parts = [`new routes: ${describeRouting(after)}`];
  else if (step.op === "delete") parts = [`routes removed (were: ${describeRouting(before)})`];
  else {
    parts = describeRoutingChange(before, after);
    if (step.op === "replace") {
      parts = parts.length ? ["replaced", ...parts] : [`replaced, routing unchanged (${describeRouting(after)})`];
    }
  }
  if (parts.length === 0) return undefined;
  return { service, op: step.op, line: `${service}: ${parts.join("; ")}` };
}

export function summarize(preview: Preview): Summary {
  const steps = collapseSteps(preview.steps).filter((s) => s.custom && s.op !== "same" && s.op !== "");
  const routing: RoutingChange[] = [];
  const destructive: ResourceChange[] = [];
  const other: ResourceChange[] = [];
  for (const s of steps) {
    const isVs = VIRTUAL_SERVICE.test(s.type);
    const change: ResourceChange = { op: s.op, type: s.type, name: k8sName(s), because: s.op === "replace" ? s.replaceKeys : [] };
    if (isVs) {
      const r = routingLine(s);
      if (r) routing.push(r);
    }
    if (s.op === "replace" || s.op === "delete") destructive.push(change);
    else if (!(isVs && (s.op === "update" || s.op === "create") && routing.some((r) => r.service === serviceName(s)))) {
      other.push(change);
    }
  }
  routing.sort((a, b) => a.service.localeCompare(b.service));
  const urn = preview.steps[0]?.urn;
  // "preview failed" only repeats what the title says; the reasons are the other errors and violations.
  const errors = preview.errors.filter((e) => e !== "preview failed");
  return {
    stack: urn ? stackFromUrn(urn) : undefined,
    scope: "preview",
    // Violations do not change resources: they are listed after "No changes." when there are some.
    noChanges: steps.length === 0 && errors.length === 0,
    routing,
    destructive,
    other,
    violations: preview.violations,
    errors,
    warnings: preview.warnings,
    succeeded: preview.succeeded,
    policyPacks: preview.policyPacks,
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering: Markdown for a pull request comment, plain text for a terminal.

export type Format = "md" | "text";

export interface RenderOptions {
  format: Format;
  /** Overrides the stack name read from the URNs. */
  stack?: string;
  /** Added to Markdown so a workflow can find and edit its own comment. */
  marker?: string;
  /** A sentence under the title, e.g. what the summary is based on. */
  note?: string;
  /** Title word: "preview" (default) or e.g. "routing from config". */
  title?: string;
}

const OP_WORDS: Record<string, string> = {
  create: "create",
  update: "update",
  replace: "replace",
  delete: "delete",
  read: "read",
  import: "import",
  refresh: "refresh",
  discard: "discard",
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Groups changes of one op by type: [type, names][], largest group first, then by type. */
function byType(changes: ResourceChange[]): [string, ResourceChange[]][] {
  const groups = new Map<string, ResourceChange[]>();
  for (const c of changes) groups.set(c.type, [...(groups.get(c.type) ?? []), c]);
  return [...groups].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
}

export function renderSummary(summary: Summary, options: RenderOptions): string[] {
  const md = options.format === "md";
  const code = (s: string): string => (md ? `\`${s}\`` : s);
  const bold = (s: string): string => (md ? `**${s}**` : s);
  const bullet = md ? "- " : "  ";
  const stack = options.stack ?? summary.stack ?? "?";
  const out: string[] = [];
  if (md && options.marker) out.push(`<!-- ${options.marker} -->`);
  const status = summary.succeeded ? "" : md ? " — ❌ preview failed" : " (preview FAILED)";
  const title = options.title ?? "Pulumi preview";
  out.push(md ? `### ${title} of stack \`${stack}\`${status}` : `${title} of stack ${stack}${status}`);
  out.push("");
  if (options.note) {
    out.push(md ? `_${options.note}_` : options.note);
    out.push("");
  }

  if (summary.noChanges) {
    out.push(md ? "**No changes.** Routing and every other resource stay as they are." : "No changes. Routing and every other resource stay as they are.");
    return finish(out, summary, bullet, code, bold);
  }

  const listed = summary.routing.length + summary.destructive.length + summary.other.length;
  if (!summary.succeeded && listed === 0) {
    out.push("The preview stopped before it listed any change; the errors below say why.");
    out.push("");
    return finish(out, summary, bullet, code, bold);
  }

  out.push(bold("Routing"));
  if (summary.routing.length === 0) out.push(`${bullet}no routing changes`);
  for (const r of summary.routing) out.push(`${bullet}${r.line}`);
  out.push("");
  if (summary.scope === "config") return finish(out, summary, bullet, code, bold);

  for (const op of ["replace", "delete"] as const) {
    const changes = summary.destructive.filter((c) => c.op === op);
    if (changes.length === 0) continue;
    const title = op === "replace" ? `Replaces (${changes.length}): deleted and created again` : `Deletes (${changes.length})`;
    out.push(md ? `**⚠️ ${title}**` : `!! ${title}`);
    for (const [type, list] of byType(changes)) {
      const names = list.map((c) => c.name).sort().join(", ");
      const because = [...new Set(list.flatMap((c) => c.because))];
      out.push(`${bullet}${code(type)} × ${list.length}: ${names}${because.length ? ` (forced by ${because.map(code).join(", ")})` : ""}`);
    }
    out.push("");
  }

  const ops = [...new Set(summary.other.map((c) => c.op))].sort();
  if (ops.length === 0) {
    out.push(summary.destructive.length === 0 ? "Nothing else changes." : "Nothing else is created or updated.");
  } else {
    out.push(bold("Other changes"));
    for (const op of ops) {
      const changes = summary.other.filter((c) => c.op === op);
      const groups = byType(changes)
        .map(([type, list]) => `${code(type)} × ${list.length}`)
        .join(", ");
      out.push(`${bullet}${plural(changes.length, OP_WORDS[op] ?? op)}: ${groups}`);
    }
  }
  out.push("");
  return finish(out, summary, bullet, code, bold);
}

function finish(
  out: string[],
  summary: Summary,
  bullet: string,
  code: (s: string) => string,
  bold: (s: string) => string,
): string[] {
  if (summary.violations.length > 0) {
    out.push(bold(`Policy violations (${summary.violations.length})`));
    for (const v of summary.violations) {
      const [headline, ...detail] = v.message.split("\n");
      const where = v.urn ? ` on ${nameFromUrn(v.urn)}` : "";
      const text = (detail.join(" ").trim() || headline).replace(/\s+/g, " ");
      out.push(`${bullet}${v.level} ${code(v.policy)}${where}: ${text}`);
    }
    out.push("");
  } else if (summary.policyPacks.length > 0) {
    out.push(`Policy packs ${summary.policyPacks.map(code).join(", ")}: no violations.`);
    out.push("");
  }
  if (summary.errors.length > 0) {
    out.push(bold("Errors"));
    for (const e of summary.errors) out.push(`${bullet}${e.replace(/\s+/g, " ")}`);
    out.push("");
  }
  if (summary.warnings.length > 0) {
    out.push(bold("Warnings"));
    for (const w of summary.warnings) out.push(`${bullet}${w.replace(/\s+/g, " ")}`);
    out.push("");
  }
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}
