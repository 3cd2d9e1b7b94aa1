// Reads a policy's config (from --policy-pack-config) into typed options with defaults.
import { PolicyConfigSchema } from "@pulumi/policy";
import { isRecord } from "./plain";

/**
 * The engine validates config against each schema but cannot refuse unknown keys (it only
 * passes `properties` and `required` on), so a typo like "prodution" would silently leave a
 * production stack unguarded. Fail loudly instead.
 */
export function assertKnownKeys(policy: string, schema: PolicyConfigSchema | undefined, config: unknown): void {
  if (!isRecord(config)) {
    return;
  }
  const known = Object.keys(schema?.properties ?? {});
  const unknownKeys = Object.keys(config).filter((k) => !known.includes(k));
  if (unknownKeys.length > 0) {
    throw new Error(
      `policy config for "${policy}" has unknown key(s) ${unknownKeys.map((k) => `"${k}"`).join(", ")}; ` +
        `known keys: ${known.length > 0 ? known.join(", ") : "none (only the enforcement level can be set)"}.`,
    );
  }
}

export function boolOption(config: unknown, key: string, fallback: boolean): boolean {
  const v = isRecord(config) ? config[key] : undefined;
  return typeof v === "boolean" ? v : fallback;
}

export function stringOption(config: unknown, key: string, fallback: string): string {
  const v = isRecord(config) ? config[key] : undefined;
  return typeof v === "string" && v !== "" ? v : fallback;
}

export function stringListOption(config: unknown, key: string, fallback: string[]): string[] {
  const v = isRecord(config) ? config[key] : undefined;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : fallback;
}

/** Shared schema entry: how a stack declares itself production. */
export const PRODUCTION_SCHEMA = {
  production: {
    type: "boolean",
    default: false,
    description: "This stack is production: turns on production-only checks. Set it on every policy that has it (see README).",
  },
} as const;
