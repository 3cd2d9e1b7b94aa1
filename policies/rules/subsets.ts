// Rules linking VirtualServices to DestinationRules and Gateways in the same stack.
import { arr, at, isRecord, isUnknown, rec, str } from "../lib/plain";
import { namespaceOf, resolveHost } from "../lib/istio";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { routesOf } from "./routes";

export const SUBSETS_DEFINED = "virtualservice-subsets-defined";
export const GATEWAYS_DEFINED = "virtualservice-gateways-defined";
export const DESTINATIONRULE_SUBSETS_VALID = "destinationrule-subsets-valid";

interface SubsetIndex {
  /** Resolved host -> subset names declared by DestinationRules for it. */
  byHost: Map<string, Set<string>>;
  /** True when some DestinationRule could not be read (unknown during preview). */
  incomplete: boolean;
}

function indexSubsets(resources: ResourceView[]): SubsetIndex {
  const byHost = new Map<string, Set<string>>();
  let incomplete = false;
  for (const r of resources) {
    if (r.type !== TYPES.destinationRule) {
      continue;
    }
    const host = at(r.props, "spec", "host");
    const subsets = at(r.props, "spec", "subsets");
    if (typeof host !== "string" || isUnknown(subsets) || isUnknown(at(r.props, "metadata", "namespace"))) {
      incomplete = true;
      continue;
    }
    const key = resolveHost(host, namespaceOf(r.props));
    const names = byHost.get(key) ?? new Set<string>();
    for (const s of arr(subsets)) {
      const name = str(at(s, "name"));
      if (name !== undefined) {
        names.add(name);
      } else if (isUnknown(at(s, "name"))) {
        incomplete = true;
      }
    }
    byHost.set(key, names);
  }
  return { byHost, incomplete };
}

/** Destinations a route sends traffic to, mirrors included. */
function destinationsOf(route: Record<string, unknown>): Record<string, unknown>[] {
  const out = arr(route["route"])
    .map((d) => rec(at(d, "destination")))
    .filter((d): d is Record<string, unknown> => d !== undefined);
  const mirror = rec(route["mirror"]);
  if (mirror) {
    out.push(mirror);
  }
  return out;
}

/**
 * Every subset a VirtualService routes to must be declared by a DestinationRule for that
 * host in this stack; otherwise Envoy has no such cluster and Istio answers 503.
 */
export function checkSubsetsDefined(resources: ResourceView[]): Violation[] {
  const index = indexSubsets(resources);
  if (index.incomplete) {
    return []; // cannot tell a missing subset from one not known yet
  }
  const out: Violation[] = [];
  for (const r of resources) {
    if (r.type !== TYPES.virtualService || isUnknown(at(r.props, "metadata", "namespace"))) {
      continue;
    }
    const ns = namespaceOf(r.props);
    for (const { label, route } of routesOf(r.props)) {
      for (const dest of destinationsOf(route)) {
        const host = str(dest["host"]);
        const subset = str(dest["subset"]);
        if (host === undefined || subset === undefined) {
          continue;
        }
        const key = resolveHost(host, ns);
        const declared = index.byHost.get(key);
        if (!declared) {
          out.push({
            urn: r.urn,
            message:
              `${describe(r)} ${label} routes to subset "${subset}" of ${key}, but no DestinationRule in this stack ` +
              `has host ${key}; Istio would answer 503. Add a DestinationRule with that subset.`,
          });
        } else if (!declared.has(subset)) {
          const known = [...declared].sort().join(", ") || "none";
          out.push({
            urn: r.urn,
            message:
              `${describe(r)} ${label} routes to subset "${subset}" of ${key}, which its DestinationRule does not declare ` +
              `(declared: ${known}); Istio would answer 503.`,
          });
        }
      }
    }
  }
  return out;
}

/**
 * A VirtualService bound to a Gateway must name one this stack defines ("mesh" is the
 * sidecars, not a Gateway). Gateways from elsewhere can be allowed by name.
 */
export function checkGatewaysDefined(resources: ResourceView[], opts: { externalGateways: string[] }): Violation[] {
  const known = new Set<string>();
  for (const r of resources) {
    if (r.type !== TYPES.gateway) {
      continue;
    }
    const name = at(r.props, "metadata", "name");
    if (typeof name !== "string" || isUnknown(at(r.props, "metadata", "namespace"))) {
      return []; // a Gateway not known yet: cannot judge
    }
    known.add(`${namespaceOf(r.props)}/${name}`);
  }
  const external = new Set(opts.externalGateways);
  const out: Violation[] = [];
  for (const r of resources) {
    if (r.type !== TYPES.virtualService || isUnknown(at(r.props, "metadata", "namespace"))) {
      continue;
    }
    const ns = namespaceOf(r.props);
    const refs = new Set<string>(arr(at(r.props, "spec", "gateways")).filter((g): g is string => typeof g === "string"));
    for (const { route } of routesOf(r.props)) {
      for (const m of arr(route["match"])) {
        for (const g of arr(at(m, "gateways"))) {
          if (typeof g === "string") {
            refs.add(g);
          }
        }
      }
    }
    for (const ref of refs) {
      if (ref === "mesh") {
        continue;
      }
      // "name" means the VirtualService's namespace; "ns/name" is explicit.
      const key = ref.includes("/") ? ref : `${ns}/${ref}`;
      if (!known.has(key) && !external.has(key) && !external.has(ref)) {
        out.push({
          urn: r.urn,
          message:
            `${describe(r)} is bound to Gateway "${ref}" (${key}), which this stack does not define; ` +
            `traffic through it would never match. Define the Gateway, or list it in externalGateways.`,
        });
      }
    }
  }
  return out;
}

/** DestinationRule subsets need unique names and labels that select pods. */
export function checkDestinationRuleSubsets(r: ResourceView): Violation[] {
  if (r.type !== TYPES.destinationRule) {
    return [];
  }
  const out: Violation[] = [];
  const seen = new Set<string>();
  arr(at(r.props, "spec", "subsets")).forEach((s, i) => {
    if (!isRecord(s)) {
      return;
    }
    const name = s["name"];
    if (isUnknown(name)) {
      return;
    }
    if (typeof name !== "string" || name === "") {
      out.push({ message: `${describe(r)} subset #${i} has no name.` });
    } else if (seen.has(name)) {
      out.push({ message: `${describe(r)} declares subset "${name}" more than once.` });
    } else {
      seen.add(name);
    }
    const labels = s["labels"];
    if (!isUnknown(labels) && (!isRecord(labels) || Object.keys(labels).length === 0)) {
      out.push({
        message: `${describe(r)} subset "${String(name)}" has no labels, so it selects every pod of the host, not one version.`,
      });
    }
  });
  return out;
}
