// Istio semantics the rules share: host resolution and duration syntax.
import { at, str } from "./plain";

export const DEFAULT_NAMESPACE = "default";
export const CLUSTER_DOMAIN = "svc.cluster.local";

/** The namespace a namespaced object lands in when metadata.namespace is not set. */
export function namespaceOf(props: Record<string, unknown>): string {
  return str(at(props, "metadata", "namespace")) || DEFAULT_NAMESPACE;
}

/**
 * Resolves a host the way Istio does: a short name (no dot) is a service in the rule's
 * own namespace; anything with a dot is taken literally. Lower-cased for comparison.
 */
export function resolveHost(host: string, namespace: string): string {
  const h = host.trim().toLowerCase();
  if (h.includes(".") || h.includes("*")) {
    return h;
  }
  return `${h}.${namespace.toLowerCase()}.${CLUSTER_DOMAIN}`;
}

const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 0.000001,
};

/**
 * Parses an Istio (Go-style) duration such as "0.5s", "2s", "100ms", "1m" or "1m30s" into
 * milliseconds; undefined when malformed. Sign and bare numbers are refused on purpose:
 * Istio rejects them.
 */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(s)) {
    return undefined;
  }
  let total = 0;
  for (const part of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    total += Number(part[1]) * UNIT_MS[part[2]];
  }
  return total;
}

/** Istio refuses durations under 1ms for timeouts, per-try timeouts and delays. */
export const MIN_DURATION_MS = 1;

/**
 * Checks one duration field; returns a problem description or undefined when fine.
 * Non-string values (numbers, objects) are malformed: Istio's CRD wants a string.
 */
export function durationProblem(value: unknown): string | undefined {
  const text = str(value);
  if (text === undefined) {
    return `must be a duration string such as "0.5s", got ${JSON.stringify(value)}`;
  }
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    return `"${text}" is not a duration (use e.g. "0.5s", "2s", "100ms", "1m", "1h")`;
  }
  if (ms < MIN_DURATION_MS) {
    return `"${text}" must be at least 1ms`;
  }
  return undefined;
}
