// What a VirtualService change does to traffic, in words: each destination's weight before → after,
// and timeouts, retries, faults and header routes that appear, change or go. Pure functions over the
// VirtualService spec (networking.istio.io/v1) as the program sends it.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The default route: the one named "default", else the last route without a match (Istio's fallthrough). */
function defaultRoute(http: Json[]): Json | undefined {
  return http.find((r) => r.name === "default") ?? [...http].reverse().find((r) => arr(r.match).length === 0);
}

function headerRoutes(http: Json[]): Json[] {
  const def = defaultRoute(http);
  return http.filter((r) => r !== def);
}

/** Subset (or host when no subset) → weight; one unweighted destination carries 100%. */
export function weightsOf(route: Json | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const dests = arr(route?.route).filter(isObject);
  for (const d of dests) {
    const dest = isObject(d.destination) ? d.destination : {};
    const key = typeof dest.subset === "string" ? dest.subset : String(dest.host ?? "?");
    const weight = typeof d.weight === "number" ? d.weight : dests.length === 1 ? 100 : 0;
    out.set(key, (out.get(key) ?? 0) + weight);
  }
  return out;
}

function describeSplit(weights: Map<string, number>): string {
  return [...weights].map(([k, w]) => `${k} ${w}%`).join(", ");
}

/** "v1 90% → 50%, v2 10% → 50%": every destination of either side (0% where absent), by name. */
function splitChange(before: Map<string, number>, after: Map<string, number>): string | undefined {
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const changed = keys.some((k) => (before.get(k) ?? 0) !== (after.get(k) ?? 0));
  if (!changed) return undefined;
  return keys
    .map((k) => {
      const b = before.get(k) ?? 0;
      const a = after.get(k) ?? 0;
      return b === a ? `${k} ${a}%` : `${k} ${b}% → ${a}%`;
    })
    .join(", ");
}

function pct(v: unknown): string {
  return isObject(v) && typeof v.value === "number" ? `${v.value}%` : "100%";
}

export function describeTimeout(route: Json | undefined): string | undefined {
  return typeof route?.timeout === "string" ? route.timeout : undefined;
}

export function describeRetries(route: Json | undefined): string | undefined {
  const r = route?.retries;
  if (!isObject(r)) return undefined;
  let s = `${String(r.attempts ?? 0)} attempts`;
  if (typeof r.perTryTimeout === "string") s += ` of ${r.perTryTimeout}`;
  if (typeof r.retryOn === "string") s += ` on ${r.retryOn}`;
  return s;
}

export function describeDelay(route: Json | undefined): string | undefined {
  const f = route?.fault;
  if (!isObject(f) || !isObject(f.delay)) return undefined;
  return `${String(f.delay.fixedDelay ?? "?")} on ${pct(f.delay.percentage)}`;
}

export function describeAbort(route: Json | undefined): string | undefined {
  const f = route?.fault;
  if (!isObject(f) || !isObject(f.abort)) return undefined;
  return `HTTP ${String(f.abort.httpStatus ?? "?")} on ${pct(f.abort.percentage)}`;
}

const POLICY_PARTS: [string, (r: Json | undefined) => string | undefined][] = [
  ["timeout", describeTimeout],
  ["retries", describeRetries],
  ["delay", describeDelay],
  ["abort", describeAbort],
];

function policyChanges(before: Json | undefined, after: Json | undefined): string[] {
  const out: string[] = [];
  for (const [label, describe] of POLICY_PARTS) {
    const b = describe(before);
    const a = describe(after);
    if (b !== a) out.push(`${label} ${b ?? "none"} → ${a ?? "none"}`);
  }
  return out;
}

function policyOf(route: Json | undefined): string[] {
  return POLICY_PARTS.flatMap(([label, describe]) => {
    const d = describe(route);
    return d === undefined ? [] : [`${label} ${d}`];
  });
}

function describeMatch(match: unknown): string {
  const conditions: string[] = [];
  for (const m of arr(match).filter(isObject)) {
    const parts: string[] = [];
    for (const [name, sm] of Object.entries(isObject(m.headers) ? m.headers : {})) {
      if (!isObject(sm)) continue;
      if (typeof sm.exact === "string") parts.push(`${name} is "${sm.exact}"`);
      else if (typeof sm.prefix === "string") parts.push(`${name} starts with "${sm.prefix}"`);
      else if (typeof sm.regex === "string") parts.push(`${name} matches regex "${sm.regex}"`);
    }
    if (isObject(m.uri)) {
      const u = m.uri;
      parts.push(`uri ${typeof u.exact === "string" ? `is ${u.exact}` : typeof u.prefix === "string" ? `starts with ${u.prefix}` : `matches ${String(u.regex)}`}`);
    }
    conditions.push(parts.length ? parts.join(" and ") : "any request");
  }
  return conditions.length ? conditions.join(" or ") : "any request";
}

/** A header route in words: `user-agent matches regex ".*iPhone.*" → v3 (timeout 0.5s)`. */
export function describeHeaderRoute(route: Json): string {
  const policy = policyOf(route);
  const weights = weightsOf(route);
  // One destination takes all of the matched requests: name it alone.
  const to = weights.size === 1 ? [...weights.keys()][0] : describeSplit(weights);
  return `${describeMatch(route.match)} → ${to}${policy.length ? ` (${policy.join(", ")})` : ""}`;
}

function headerRouteChanges(before: Json[], after: Json[]): string[] {
  const key = (r: Json, i: number): string => (typeof r.name === "string" ? r.name : `#${i}`);
  const b = new Map(headerRoutes(before).map((r, i) => [key(r, i), r]));
  const a = new Map(headerRoutes(after).map((r, i) => [key(r, i), r]));
  const out: string[] = [];
  for (const [k, r] of b) {
    if (!a.has(k)) out.push(`header route removed: ${describeHeaderRoute(r)}`);
  }
  for (const [k, r] of a) {
    const old = b.get(k);
    if (!old) out.push(`header route added: ${describeHeaderRoute(r)}`);
    else if (describeHeaderRoute(old) !== describeHeaderRoute(r)) {
      out.push(`header route changed: ${describeHeaderRoute(old)} ⇒ ${describeHeaderRoute(r)}`);
    }
  }
  return out;
}

function httpOf(spec: unknown): Json[] {
  return isObject(spec) ? arr(spec.http).filter(isObject) : [];
}

/** The routing of a spec at rest: "v1 90%, v2 10%; timeout 0.5s; header route: ...". */
export function describeRouting(spec: unknown): string {
  const http = httpOf(spec);
  const def = defaultRoute(http);
  const parts = [describeSplit(weightsOf(def)), ...policyOf(def)];
  for (const r of headerRoutes(http)) parts.push(`header route: ${describeHeaderRoute(r)}`);
  return parts.filter((p) => p !== "").join("; ");
}

/**
 * The changes between two VirtualService specs, in words; [] when routing is the same. A part the
 * words do not cover (mirror, rewrite, hosts...) still shows as "other route settings changed".
 */
export function describeRoutingChange(before: unknown, after: unknown): string[] {
  const b = httpOf(before);
  const a = httpOf(after);
  const out: string[] = [];
  const split = splitChange(weightsOf(defaultRoute(b)), weightsOf(defaultRoute(a)));
  if (split) out.push(split);
  out.push(...policyChanges(defaultRoute(b), defaultRoute(a)));
  out.push(...headerRouteChanges(b, a));
  if (out.length === 0 && JSON.stringify(before ?? null) !== JSON.stringify(after ?? null)) {
    out.push("other route settings changed");
  }
  return out;
}
