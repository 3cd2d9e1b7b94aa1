// Rules on HTTP fault injection: never on production stacks, and values Istio accepts.
import { at, isRecord, isUnknown, show } from "../lib/plain";
import { durationProblem } from "../lib/istio";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { httpRoutesOf } from "./routes";

export const NO_FAULTS_IN_PRODUCTION = "no-fault-injection-in-production";
export const FAULT_VALUES = "fault-injection-values-valid";

export interface ProductionOptions {
  production: boolean;
}

export function checkNoFaultsInProduction(r: ResourceView, opts: ProductionOptions): Violation[] {
  if (r.type !== TYPES.virtualService || !opts.production) {
    return [];
  }
  const out: Violation[] = [];
  for (const { label, route } of httpRoutesOf(r.props)) {
    const fault = route["fault"];
    if (isUnknown(fault)) {
      continue;
    }
    const kinds = ["delay", "abort"].filter((k) => isRecord(fault) && fault[k] !== undefined && fault[k] !== null);
    if (kinds.length > 0) {
      out.push({
        message:
          `${describe(r)} ${label}: fault injection (${kinds.join(" and ")}) is not allowed on a production stack; ` +
          `remove traffic.*.fault from this stack's config, or run the experiment on a lab stack.`,
      });
    }
  }
  return out;
}

function percentageProblem(fault: Record<string, unknown>): string | undefined {
  if (fault["percent"] !== undefined) {
    return `uses the removed field "percent"; use percentage.value`;
  }
  const value = at(fault, "percentage", "value");
  if (value === undefined || isUnknown(value)) {
    return undefined; // Istio applies the fault to 100% when percentage is unset
  }
  if (typeof value !== "number" || value < 0 || value > 100) {
    return `percentage.value must be a number from 0 to 100, got ${show(value)}`;
  }
  return undefined;
}

export function checkFaultValues(r: ResourceView): Violation[] {
  if (r.type !== TYPES.virtualService) {
    return [];
  }
  const out: Violation[] = [];
  for (const { label, route } of httpRoutesOf(r.props)) {
    const fault = route["fault"];
    if (!isRecord(fault)) {
      continue;
    }
    const where = `${describe(r)} ${label}`;
    const delay = fault["delay"];
    if (isRecord(delay)) {
      const p = percentageProblem(delay);
      if (p) {
        out.push({ message: `${where}: fault.delay ${p}.` });
      }
      const fixed = delay["fixedDelay"];
      if (fixed === undefined) {
        out.push({ message: `${where}: fault.delay needs fixedDelay (e.g. "2s").` });
      } else if (!isUnknown(fixed)) {
        const d = durationProblem(fixed);
        if (d) {
          out.push({ message: `${where}: fault.delay.fixedDelay ${d}.` });
        }
      }
    }
    const abort = fault["abort"];
    if (isRecord(abort)) {
      const p = percentageProblem(abort);
      if (p) {
        out.push({ message: `${where}: fault.abort ${p}.` });
      }
      const status = abort["httpStatus"];
      if (status === undefined && abort["grpcStatus"] === undefined) {
        out.push({ message: `${where}: fault.abort needs httpStatus (e.g. 500).` });
      } else if (status !== undefined && !isUnknown(status)) {
        if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
          out.push({ message: `${where}: fault.abort.httpStatus must be an HTTP status from 200 to 599, got ${show(status)}.` });
        }
      }
    }
  }
  return out;
}
