// Reading `pulumi preview --json` output, in either of its two shapes, into one model:
//  - the document `pulumi preview --json` prints (config, steps, diagnostics, changeSummary);
//  - the event stream it prints with PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true (one engine event per
//    line). Only the stream carries policy violations, so `npm run summary` asks for it.
// Pure: text in, data out.

/** A resource's state as the preview shows it (inputs are what the program sent). */
export interface ResourceState {
  type?: string;
  custom?: boolean;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

export interface PreviewStep {
  op: string;
  urn: string;
  type: string;
  custom: boolean;
  old?: ResourceState;
  new?: ResourceState;
  /** Property paths the provider reported as forcing a replacement. */
  replaceKeys: string[];
  /** Property paths that differ (detailedDiff keys, or diffs). */
  diffKeys: string[];
}

export interface PolicyViolation {
  policy: string;
  pack: string;
  level: string;
  urn?: string;
  message: string;
}

export interface Preview {
  steps: PreviewStep[];
  changeSummary: Record<string, number>;
  violations: PolicyViolation[];
  /** Diagnostics of severity error and warning (debug and info dropped). */
  errors: string[];
  warnings: string[];
  /** false when the preview failed (an error, or a mandatory policy violation). */
  succeeded: boolean;
  /** Names of the policy packs that ran (stream only). */
  policyPacks: string[];
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function stateOf(v: unknown): ResourceState | undefined {
  if (!isObject(v)) return undefined;
  return {
    type: str(v.type),
    custom: typeof v.custom === "boolean" ? v.custom : undefined,
    inputs: isObject(v.inputs) ? v.inputs : undefined,
    outputs: isObject(v.outputs) ? v.outputs : undefined,
  };
}

/** `type` from the URN when the step carries no state: urn:pulumi:stack::project::parent$type::name. */
export function typeFromUrn(urn: string): string {
  const parts = urn.split("::");
  if (parts.length < 4) return "";
  const chain = parts[2].split("$");
  return chain[chain.length - 1];
}

export function nameFromUrn(urn: string): string {
  const parts = urn.split("::");
  return parts[parts.length - 1];
}

export function stackFromUrn(urn: string): string | undefined {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  return m?.[1];
}

function keysOfDiff(detailedDiff: unknown, kinds?: (kind: string) => boolean): string[] {
  if (!isObject(detailedDiff)) return [];
  return Object.entries(detailedDiff)
    .filter(([, d]) => !kinds || (isObject(d) && typeof d.kind === "string" && kinds(d.kind)))
    .map(([k]) => k);
}

const isReplaceKind = (kind: string): boolean => kind.endsWith("-replace") || kind.endsWith("_replace") || kind === "replace";

function step(op: string, urn: string, type: string | undefined, old: unknown, neu: unknown, meta: Json): PreviewStep {
  const o = stateOf(old);
  const n = stateOf(neu);
  const replaceKeys = Array.isArray(meta.keys) && op.includes("replace")
    ? (meta.keys as unknown[]).filter((k): k is string => typeof k === "string")
    : [];
  const fromDiff = keysOfDiff(meta.detailedDiff, isReplaceKind);
  const diffs = Array.isArray(meta.diffs) ? (meta.diffs as unknown[]).filter((k): k is string => typeof k === "string") : [];
  return {
    op,
    urn,
    type: type ?? n?.type ?? o?.type ?? typeFromUrn(urn),
    // The event stream leaves `custom: false` out; a step with no state at all is taken as custom.
    custom: n || o ? (n?.custom ?? o?.custom ?? false) : !typeFromUrn(urn).startsWith("pulumi:pulumi:"),
    old: o,
    new: n,
    replaceKeys: [...new Set([...replaceKeys, ...fromDiff])],
    diffKeys: [...new Set([...keysOfDiff(meta.detailedDiff), ...diffs])],
  };
}

function diagnosticText(d: Json): string {
  return (str(d.message) ?? "").replace(/^(warning|error): /, "").trim();
}

/** Plugin-from-PATH notes: about this machine, not about the change. */
const NOISE = /^using pulumi-[a-z-]+ from \$PATH/;

function fromDocument(doc: Json): Preview {
  const steps = (Array.isArray(doc.steps) ? doc.steps : []).filter(isObject).map((s) =>
    step(str(s.op) ?? "", str(s.urn) ?? "", undefined, s.oldState, s.newState, {
      keys: s.keys,
      detailedDiff: s.detailedDiff,
      diffs: s.diffReasons,
    }),
  );
  const diagnostics = (Array.isArray(doc.diagnostics) ? doc.diagnostics : []).filter(isObject);
  const errors = diagnostics.filter((d) => d.severity === "error").map(diagnosticText);
  const warnings = diagnostics.filter((d) => d.severity === "warning").map(diagnosticText).filter((m) => !NOISE.test(m));
  const changeSummary = isObject(doc.changeSummary) ? (doc.changeSummary as Record<string, number>) : {};
  return { steps, changeSummary, violations: [], errors, warnings, succeeded: errors.length === 0, policyPacks: [] };
}

function fromEvents(events: Json[]): Preview {
  const steps: PreviewStep[] = [];
  const violations: PolicyViolation[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];
  let changeSummary: Record<string, number> = {};
  let result: string | undefined;
  let policyPacks: string[] = [];
  for (const e of events) {
    if (isObject(e.resourcePreEvent) && isObject(e.resourcePreEvent.metadata)) {
      const m = e.resourcePreEvent.metadata;
      steps.push(step(str(m.op) ?? "", str(m.urn) ?? "", str(m.type), m.old, m.new, m));
    } else if (isObject(e.policyEvent)) {
      const p = e.policyEvent;
      violations.push({
        policy: str(p.policyName) ?? "",
        pack: str(p.policyPackName) ?? "",
        level: str(p.enforcementLevel) ?? "",
        urn: str(p.resourceUrn),
        message: (str(p.message) ?? "").trim(),
      });
    } else if (isObject(e.diagnosticEvent)) {
      const d = e.diagnosticEvent;
      if (d.severity === "error") errors.push(diagnosticText(d));
      else if (d.severity === "warning" && !NOISE.test(diagnosticText(d))) warnings.push(diagnosticText(d));
    } else if (isObject(e.summaryEvent)) {
      const s = e.summaryEvent;
      if (isObject(s.resourceChanges)) changeSummary = s.resourceChanges as Record<string, number>;
      result = str(s.result);
      if (isObject(s.PolicyPacks)) policyPacks = Object.keys(s.PolicyPacks).map((k) => k.split("|")[0]);
    }
  }
  // A warning can arrive once per resource; keep the first of each.
  return {
    steps,
    changeSummary,
    violations,
    errors: [...new Set(errors)],
    warnings: [...new Set(warnings)],
    succeeded: result !== undefined ? result === "succeeded" : errors.length === 0,
    policyPacks,
  };
}

/** Parses either shape of `pulumi preview --json` output. Throws on text that is neither. */
export function parsePreview(text: string): Preview {
  const trimmed = text.trim();
  if (trimmed === "") throw new Error("empty preview output: did `pulumi preview --json` run?");
  try {
    const doc = JSON.parse(trimmed) as unknown;
    if (isObject(doc) && ("steps" in doc || "changeSummary" in doc || "diagnostics" in doc)) return fromDocument(doc);
    if (isObject(doc)) return fromEvents([doc]);
  } catch {
    // Not one document: an event stream, one JSON object per line.
  }
  const events: Json[] = [];
  for (const [i, line] of trimmed.split("\n").entries()) {
    if (line.trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} of the preview output is not JSON: ${line.slice(0, 80)}`);
    }
    if (isObject(parsed)) events.push(parsed);
  }
  return fromEvents(events);
}
