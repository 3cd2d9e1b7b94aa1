// Durations as users write them ("500ms", "0.5s", "2s", "1m") and as Istio's v1 API stores them:
// protobuf JSON durations, seconds with an "s" suffix ("0.5s"). Normalising keeps diffs stable:
// "500ms" and "0.5s" render the same spec.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** Milliseconds of a duration string, or undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  return Number.isFinite(ms) ? ms : undefined;
}

/** Istio's form of a duration given in milliseconds: "2s", "0.5s", "0.001s". */
export function formatIstioDuration(ms: number): string {
  // Whole milliseconds only: Envoy's route timeouts have millisecond precision.
  const rounded = Math.round(ms);
  const seconds = Math.floor(rounded / 1000);
  const frac = rounded % 1000;
  if (frac === 0) return `${seconds}s`;
  return `${seconds}.${String(frac).padStart(3, "0").replace(/0+$/, "")}s`;
}
