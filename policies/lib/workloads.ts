// Finds pod templates and containers in the workload kinds a program may register.
import { arr, at, isRecord, rec, str } from "./plain";
import { TYPES } from "./types";

/** Where each workload kind keeps its pod spec. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  [TYPES.deployment]: ["spec", "template", "spec"],
  [TYPES.statefulSet]: ["spec", "template", "spec"],
  [TYPES.daemonSet]: ["spec", "template", "spec"],
  [TYPES.replicaSet]: ["spec", "template", "spec"],
  [TYPES.job]: ["spec", "template", "spec"],
  [TYPES.cronJob]: ["spec", "jobTemplate", "spec", "template", "spec"],
  [TYPES.pod]: ["spec"],
};

export function isWorkloadType(type: string): boolean {
  return type in POD_SPEC_PATHS;
}

/** The pod spec of a workload; the raw value (may be UNKNOWN) or undefined if absent. */
export function podSpecOf(type: string, props: Record<string, unknown>): unknown {
  const path = POD_SPEC_PATHS[type];
  return path ? at(props, ...path) : undefined;
}

/** Pod template metadata (labels/annotations), where the kind has a template. */
export function podTemplateMetaOf(type: string, props: Record<string, unknown>): Record<string, unknown> | undefined {
  const path = POD_SPEC_PATHS[type];
  if (!path) {
    return undefined;
  }
  // The template metadata sits beside the pod spec: replace the trailing "spec" with "metadata".
  return rec(at(props, ...path.slice(0, -1), "metadata"));
}

export interface ContainerRef {
  /** "containers", "initContainers" or "ephemeralContainers". */
  list: string;
  /** Container name, or its index when unnamed. */
  name: string;
  container: Record<string, unknown>;
}

const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"];

/** Every container of a pod spec, init containers included. */
export function containersOf(podSpec: unknown): ContainerRef[] {
  const out: ContainerRef[] = [];
  if (!isRecord(podSpec)) {
    return out;
  }
  for (const list of CONTAINER_LISTS) {
    arr(podSpec[list]).forEach((c, i) => {
      if (isRecord(c)) {
        out.push({ list, name: str(c["name"]) ?? `#${i}`, container: c });
      }
    });
  }
  return out;
}
