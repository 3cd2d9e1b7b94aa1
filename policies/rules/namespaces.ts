// Rule: namespaces that run application workloads get Istio sidecars.
import { at, isUnknown, rec, str } from "../lib/plain";
import { namespaceOf } from "../lib/istio";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { podTemplateMetaOf } from "../lib/workloads";

export const SIDECAR_INJECTION = "namespace-sidecar-injection";

export interface InjectionOptions {
  /** Namespaces that never get sidecars (system components, the mesh itself). */
  exemptNamespaces: string[];
}

export const DEFAULT_EXEMPT_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", "istio-system"];

const APP_WORKLOADS: string[] = [TYPES.deployment, TYPES.statefulSet];

/** Whether a namespace's labels turn on injection (the classic label or a revision label). */
export function injectionEnabled(labels: Record<string, unknown> | undefined): boolean {
  if (!labels) {
    return false;
  }
  if (labels["istio-injection"] === "enabled") {
    return true;
  }
  // The classic label wins over a revision label when it says disabled.
  const rev = str(labels["istio.io/rev"]);
  return labels["istio-injection"] === undefined && rev !== undefined && rev !== "";
}

/** A workload that opts out of the mesh on purpose does not need its namespace labelled. */
function optsOut(r: ResourceView): boolean {
  const meta = podTemplateMetaOf(r.type, r.props);
  return at(meta, "annotations", "sidecar.istio.io/inject") === "false" || at(meta, "labels", "sidecar.istio.io/inject") === "false";
}

export function checkSidecarInjection(resources: ResourceView[], opts: InjectionOptions): Violation[] {
  const exempt = new Set(opts.exemptNamespaces);
  // Namespaces this stack manages, by name, with the labels it gives them.
  const managed = new Map<string, { r: ResourceView; labels: unknown }>();
  for (const r of resources) {
    if (r.type !== TYPES.namespace && r.type !== TYPES.namespacePatch) {
      continue;
    }
    const name = at(r.props, "metadata", "name");
    if (typeof name === "string") {
      const prev = managed.get(name);
      // A Namespace plus a patch: either one carrying the label is enough.
      if (!prev || !injectionEnabled(rec(prev.labels))) {
        managed.set(name, { r, labels: at(r.props, "metadata", "labels") });
      }
    }
  }
  const workloadsByNs = new Map<string, string[]>();
  for (const r of resources) {
    if (!APP_WORKLOADS.includes(r.type) || isUnknown(at(r.props, "metadata", "namespace")) || optsOut(r)) {
      continue;
    }
    const ns = namespaceOf(r.props);
    workloadsByNs.set(ns, [...(workloadsByNs.get(ns) ?? []), describe(r)]);
  }
  const out: Violation[] = [];
  for (const [ns, workloads] of workloadsByNs) {
    const m = managed.get(ns);
    if (exempt.has(ns) || !m || isUnknown(m.labels)) {
      continue;
    }
    if (!injectionEnabled(rec(m.labels))) {
      const shown = workloads.slice(0, 3).join(", ") + (workloads.length > 3 ? `, and ${workloads.length - 3} more` : "");
      out.push({
        urn: m.r.urn,
        message:
          `Namespace "${ns}" runs ${shown} but has neither label istio-injection=enabled nor istio.io/rev; ` +
          `its pods would run without sidecars, outside routing rules and mTLS.`,
      });
    }
  }
  return out;
}
