// Rule: weighted destinations of each route add up to 100.
import { arr, isRecord, isUnknown, show } from "../lib/plain";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { routesOf } from "./routes";

export const ROUTE_WEIGHTS = "virtualservice-weights-sum-to-100";

export function checkRouteWeights(r: ResourceView): Violation[] {
  if (r.type !== TYPES.virtualService) {
    return [];
  }
  const out: Violation[] = [];
  for (const { label, route } of routesOf(r.props)) {
    const destinations = arr(route["route"]).filter(isRecord);
    const weights = destinations.map((d) => d["weight"]);
    if (weights.some(isUnknown)) {
      continue; // weight computed from an output: judged at update time
    }
    const given = weights.filter((w) => w !== undefined && w !== null);
    // One destination without a weight takes all traffic: nothing to add up.
    if (given.length === 0 && destinations.length <= 1) {
      continue;
    }
    const bad = given.filter((w) => typeof w !== "number" || !Number.isInteger(w) || w < 0 || w > 100);
    if (bad.length > 0) {
      out.push({
        message: `${describe(r)} ${label}: weights must be integers from 0 to 100, got ${bad.map(show).join(", ")}.`,
      });
      continue;
    }
    const sum = given.reduce<number>((a, b) => a + (typeof b === "number" ? b : 0), 0);
    if (given.length < destinations.length || sum !== 100) {
      const parts = destinations.map((d) => {
        const dest = isRecord(d["destination"]) ? d["destination"] : {};
        const target = [dest["host"], dest["subset"]].filter((x) => typeof x === "string").join("/");
        const w = d["weight"];
        return `${target || "?"}=${w === undefined || w === null ? "unset" : show(w)}`;
      });
      out.push({
        message:
          `${describe(r)} ${label}: destination weights must sum to 100, got ${sum} (${parts.join(", ")}). ` +
          `Istio would reject the VirtualService or split traffic unexpectedly.`,
      });
    }
  }
  return out;
}
