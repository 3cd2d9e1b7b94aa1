// Rule: route timeouts and retries are well-formed and fit together.
import { isRecord, isUnknown } from "../lib/plain";
import { durationProblem, parseDurationMs } from "../lib/istio";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { httpRoutesOf } from "./routes";

export const TIMEOUTS_RETRIES = "virtualservice-timeouts-retries-coherent";

export function checkTimeoutsRetries(r: ResourceView): Violation[] {
  if (r.type !== TYPES.virtualService) {
    return [];
  }
  const out: Violation[] = [];
  for (const { label, route } of httpRoutesOf(r.props)) {
    const where = `${describe(r)} ${label}`;
    const timeout = route["timeout"];
    let timeoutMs: number | undefined;
    if (timeout !== undefined && timeout !== null && !isUnknown(timeout)) {
      const problem = durationProblem(timeout);
      if (problem) {
        out.push({ message: `${where}: timeout ${problem}.` });
      } else {
        timeoutMs = parseDurationMs(String(timeout));
      }
    }
    const retries = route["retries"];
    if (!isRecord(retries)) {
      continue;
    }
    const attempts = retries["attempts"];
    const attemptsOk =
      attempts === undefined || isUnknown(attempts) || (typeof attempts === "number" && Number.isInteger(attempts) && attempts >= 0);
    if (!attemptsOk) {
      out.push({ message: `${where}: retries.attempts must be a whole number >= 0, got ${JSON.stringify(attempts)}.` });
    }
    const perTry = retries["perTryTimeout"];
    let perTryMs: number | undefined;
    if (perTry !== undefined && perTry !== null && !isUnknown(perTry)) {
      const problem = durationProblem(perTry);
      if (problem) {
        out.push({ message: `${where}: retries.perTryTimeout ${problem}.` });
      } else {
        perTryMs = parseDurationMs(String(perTry));
      }
    }
    // Retries that cannot finish inside the route timeout are cut short: the last tries never happen.
    if (timeoutMs !== undefined && perTryMs !== undefined && typeof attempts === "number" && attemptsOk && attempts > 0) {
      const budget = attempts * perTryMs;
      if (budget > timeoutMs) {
        out.push({
          message:
            `${where}: retries.attempts (${attempts}) x retries.perTryTimeout (${String(perTry)}) = ${budget}ms ` +
            `exceeds the route timeout (${String(timeout)} = ${timeoutMs}ms); lower the attempts or per-try timeout, or raise the timeout.`,
        });
      }
    }
  }
  return out;
}
