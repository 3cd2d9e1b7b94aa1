// Plain-data helpers: rules only ever see JSON-like values, never the SDK's proxies.
import { UnknownValueError } from "@pulumi/policy";

/** Marks a value the engine does not know yet (an output during preview). */
export class Unknown {
  toString(): string {
    return "<unknown during preview>";
  }
}
export const UNKNOWN = new Unknown();

export function isUnknown(v: unknown): v is Unknown {
  return v instanceof Unknown;
}

/**
 * Deep-copies resource props into plain data. The SDK's props proxy throws on any unknown
 * field; copying field by field turns only that field into UNKNOWN, so one output that is
 * not known during preview does not silence a whole rule.
 */
export function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== "object") {
    return value;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      out.push(readField(value, i));
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    out[key] = readField(value, key);
  }
  return out;
}

function readField(container: object, key: string | number): unknown {
  try {
    return toPlain(Reflect.get(container, key));
  } catch (e) {
    if (e instanceof UnknownValueError) {
      return UNKNOWN;
    }
    throw e;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Unknown);
}

export function rec(v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Follows a path of keys; undefined as soon as a step is missing or not an object. */
export function at(v: unknown, ...path: string[]): unknown {
  let cur: unknown = v;
  for (const key of path) {
    if (!isRecord(cur)) {
      return undefined;
    }
    cur = cur[key];
  }
  return cur;
}

/** Human-readable rendering of a value for violation messages. */
export function show(v: unknown): string {
  if (typeof v === "string") {
    return JSON.stringify(v);
  }
  if (v instanceof Unknown) {
    return v.toString();
  }
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A value the engine marked secret, as remediations receive it (see rules/secrets.ts). */
export class SecretMark {
  constructor(readonly value: unknown) {}
}
