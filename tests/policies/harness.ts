// A small stand-in for the engine: runs the pack's real validateResource / validateStack /
// remediateResource functions, applies per-policy config the way `--policy-pack-config` does,
// and collects what the policies report.
import {
  EnforcementLevel,
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
  unknownCheckingProxy,
} from "@pulumi/policy";
import { secretsPreservingProxy } from "@pulumi/policy/secret";
import { policies } from "../../policies/pack";

/** What the engine sends for a value not known during preview. */
export const UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface TestResource {
  type: string;
  name?: string;
  props: Record<string, unknown>;
  additionalSecretOutputs?: string[];
}

/** One policy's config as a stack's JSON file would hold it. */
export type PolicyConfigEntry = EnforcementLevel | ({ enforcementLevel?: EnforcementLevel } & Record<string, unknown>);
export type PackConfig = Record<string, PolicyConfigEntry>;

export interface Reported {
  policy: string;
  message: string;
  urn?: string;
  level: EnforcementLevel;
}

/**
 * Deep copy made in the test's own realm: jest's structuredClone returns objects from the host
 * realm, which the SDK's `instanceof Object` check does not recognise, so they would skip its proxy.
 */
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function urnOf(r: TestResource, i: number): string {
  return `urn:pulumi:test::lab::${r.type}::${r.name ?? `r${i}`}`;
}

function findPolicy(name: string): ResourceValidationPolicy | StackValidationPolicy {
  const p = policies.find((x) => x.name === name);
  if (!p) {
    throw new Error(`no policy named ${name}`);
  }
  return p;
}

/** Effective level and properties, like the engine's reconcile: schema defaults, then the file. */
function effective(p: ResourceValidationPolicy | StackValidationPolicy, config: PackConfig): { level: EnforcementLevel; props: Record<string, unknown> } {
  const props: Record<string, unknown> = {};
  for (const [k, schema] of Object.entries(p.configSchema?.properties ?? {})) {
    if (typeof schema === "object" && schema.default !== undefined) {
      props[k] = schema.default;
    }
  }
  let level: EnforcementLevel = p.enforcementLevel ?? "advisory";
  const all = config["all"];
  if (typeof all === "string") {
    level = all;
  }
  const given = config[p.name];
  if (typeof given === "string") {
    level = given;
  } else if (given) {
    const { enforcementLevel, ...rest } = given;
    if (enforcementLevel) {
      level = enforcementLevel;
    }
    Object.assign(props, rest);
  }
  return { level, props };
}

/** The same two report forms the SDK's makeReportViolationFun accepts. */
function collector(policy: string, level: EnforcementLevel, out: Reported[]): ReportViolation {
  const effectiveLevel: EnforcementLevel = level === "remediate" ? "mandatory" : level;
  return ((message: unknown, urn?: string) => {
    if (typeof message === "object" && message !== null) {
      const m = message as { message?: string; urn?: string; enforcementLevel?: EnforcementLevel };
      out.push({ policy, message: m.message ?? "", urn: m.urn, level: m.enforcementLevel ?? effectiveLevel });
    } else {
      out.push({ policy, message: String(message), urn, level: effectiveLevel });
    }
  }) as ReportViolation;
}

function resourceArgs(r: TestResource, i: number, props: Record<string, unknown>, configProps: Record<string, unknown>): ResourceValidationArgs {
  const args: ResourceValidationArgs = {
    type: r.type,
    name: r.name ?? `r${i}`,
    urn: urnOf(r, i),
    props,
    opts: {
      protect: false,
      ignoreChanges: [],
      aliases: [],
      customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
      additionalSecretOutputs: r.additionalSecretOutputs ?? [],
    },
    stackTags: new Map<string, string>(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => configProps as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason ?? ""}`);
    },
  };
  return args;
}

/** Runs every resource policy (or only `only`) on each resource, as the engine's Analyze does. */
export function analyzeResources(resources: TestResource[], config: PackConfig = {}, only?: string): Reported[] {
  const out: Reported[] = [];
  for (const p of policies) {
    if (!("validateResource" in p) || !p.validateResource || (only && p.name !== only)) {
      continue;
    }
    const { level, props } = effective(p, config);
    if (level === "disabled") {
      continue;
    }
    const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
    resources.forEach((r, i) => {
      for (const validate of validations) {
        void validate(resourceArgs(r, i, unknownCheckingProxy(clone(r.props)), props), collector(p.name, level, out));
      }
    });
  }
  return out;
}

/** Runs every stack policy (or only `only`) over all resources, as the engine's AnalyzeStack does. */
export function analyzeStack(resources: TestResource[], config: PackConfig = {}, only?: string): Reported[] {
  const out: Reported[] = [];
  for (const p of policies) {
    if (!("validateStack" in p) || (only && p.name !== only)) {
      continue;
    }
    const { level, props } = effective(p, config);
    if (level === "disabled") {
      continue;
    }
    const stackResources: PolicyResource[] = resources.map((r, i) => {
      const a = resourceArgs(r, i, unknownCheckingProxy(clone(r.props)), props);
      return {
        type: a.type,
        name: a.name,
        urn: a.urn,
        props: a.props,
        opts: a.opts,
        dependencies: [],
        propertyDependencies: {},
        isType: a.isType,
        asType: a.asType,
      };
    });
    void p.validateStack(
      { resources: stackResources, getConfig: <T extends object>() => props as T, stackTags: new Map(), notApplicable: (): never => { throw new Error("n/a"); } },
      collector(p.name, level, out),
    );
  }
  return out;
}

/** Both passes, for whole-stack scenarios. */
export function analyzeAll(resources: TestResource[], config: PackConfig = {}): Reported[] {
  return [...analyzeResources(resources, config), ...analyzeStack(resources, config)];
}

/**
 * Runs a policy's remediation the way the SDK does (secret marks kept behind its proxies);
 * returns undefined when the policy is not at level "remediate" or changes nothing.
 * `raw` may hold `Secret` objects for values the program made secret.
 */
export async function remediate(name: string, r: TestResource, config: PackConfig = {}): Promise<Record<string, unknown> | undefined> {
  const p = findPolicy(name);
  const { level, props } = effective(p, config);
  if (level !== "remediate" || !("remediateResource" in p) || !p.remediateResource) {
    return undefined;
  }
  const proxied = unknownCheckingProxy(secretsPreservingProxy(r.props));
  const result = await p.remediateResource(resourceArgs(r, 0, proxied, props));
  return result ?? undefined;
}

export function messages(rs: Reported[]): string[] {
  return rs.map((r) => r.message);
}

export function byPolicy(rs: Reported[], policy: string): Reported[] {
  return rs.filter((r) => r.policy === policy);
}
