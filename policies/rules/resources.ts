// Rule: containers declare CPU and memory requests and limits.
import { at, isUnknown } from "../lib/plain";
import { ResourceView, Violation, describe } from "../lib/types";
import { containersOf, isWorkloadType, podSpecOf } from "../lib/workloads";

export const CONTAINER_RESOURCES = "container-resources-declared";

export interface ResourceOptions {
  /** Some teams leave CPU unlimited to avoid CFS throttling; they can turn this off. */
  requireCpuLimit: boolean;
}

function isSet(v: unknown): boolean {
  return (typeof v === "string" && v.trim() !== "") || typeof v === "number";
}

export function checkContainerResources(r: ResourceView, opts: ResourceOptions): Violation[] {
  if (!isWorkloadType(r.type)) {
    return [];
  }
  const wanted: [string, string][] = [
    ["requests", "cpu"],
    ["requests", "memory"],
    ["limits", "memory"],
  ];
  if (opts.requireCpuLimit) {
    wanted.push(["limits", "cpu"]);
  }
  const out: Violation[] = [];
  for (const { list, name, container } of containersOf(podSpecOf(r.type, r.props))) {
    const resources = container["resources"];
    if (isUnknown(resources)) {
      continue;
    }
    const missing = wanted.filter(([kind, res]) => {
      const v = at(resources, kind, res);
      return !isUnknown(v) && !isUnknown(at(resources, kind)) && !isSet(v);
    });
    if (missing.length > 0) {
      out.push({
        message:
          `${describe(r)} ${list} "${name}" is missing resources ${missing.map(([k, res]) => `${k}.${res}`).join(", ")}; ` +
          `without them the scheduler cannot place pods on the small lab nodes safely and one pod can starve the rest.`,
      });
    }
  }
  return out;
}
