// Rule: the mesh enforces mutual TLS everywhere (a mesh-wide STRICT PeerAuthentication).
import { at, isRecord, isUnknown, str } from "../lib/plain";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";

export const MESH_MTLS_STRICT = "mesh-mtls-strict";

export interface MtlsOptions {
  production: boolean;
  /** The stack runs PERMISSIVE on purpose (e.g. while migrating workloads into the mesh). */
  permissiveOnPurpose: boolean;
  /** Istio's root namespace (meshConfig.rootNamespace). */
  rootNamespace: string;
}

function isMeshWide(r: ResourceView, rootNamespace: string): boolean {
  if (str(at(r.props, "metadata", "namespace")) !== rootNamespace) {
    return false;
  }
  const selector = at(r.props, "spec", "selector");
  if (selector === undefined || selector === null) {
    return true;
  }
  // An empty selector matches every workload: still mesh-wide.
  const labels = at(selector, "matchLabels");
  return isRecord(selector) && (labels === undefined || (isRecord(labels) && Object.keys(labels).length === 0));
}

export function checkMeshMtls(resources: ResourceView[], opts: MtlsOptions): Violation[] {
  const pas = resources.filter((r) => r.type === TYPES.peerAuthentication);
  if (pas.some((r) => isUnknown(at(r.props, "metadata", "namespace")) || isUnknown(at(r.props, "spec")))) {
    return []; // not known yet during preview
  }
  const meshWide = pas.filter((r) => isMeshWide(r, opts.rootNamespace));
  if (meshWide.length === 0) {
    return [
      {
        message:
          `This stack has no mesh-wide PeerAuthentication (namespace ${opts.rootNamespace}, no selector); ` +
          `Istio then accepts plaintext traffic. Add one with spec.mtls.mode STRICT.`,
      },
    ];
  }
  const out: Violation[] = [];
  if (meshWide.length > 1) {
    out.push({
      urn: meshWide[1].urn,
      message: `This stack has ${meshWide.length} mesh-wide PeerAuthentications; Istio uses only the oldest. Keep one.`,
    });
  }
  for (const r of meshWide) {
    const mode = at(r.props, "spec", "mtls", "mode");
    if (isUnknown(mode)) {
      continue;
    }
    // An unset mode inherits Istio's default, which is PERMISSIVE.
    const effective: string = typeof mode === "string" && mode !== "" && mode !== "UNSET" ? mode : "PERMISSIVE";
    if (effective === "STRICT") {
      continue;
    }
    if (effective === "PERMISSIVE" && opts.permissiveOnPurpose && !opts.production) {
      out.push({
        urn: r.urn,
        level: "advisory",
        message: `${describe(r)} sets mesh-wide mTLS to PERMISSIVE (marked on purpose in this stack's policy config); plaintext is still accepted.`,
      });
      continue;
    }
    const hint = effective === "PERMISSIVE" && !opts.production ? " If PERMISSIVE is on purpose, set permissiveOnPurpose: true for this policy." : "";
    out.push({
      urn: r.urn,
      message: `${describe(r)} sets mesh-wide mTLS to ${effective}; it must be STRICT.${hint}`,
    });
  }
  return out;
}
