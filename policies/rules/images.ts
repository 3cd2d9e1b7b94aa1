// Rules on pinned artifacts: container images and Helm charts.
import { at, isUnknown, str } from "../lib/plain";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { containersOf, isWorkloadType, podSpecOf } from "../lib/workloads";

export const IMAGES_PINNED = "container-images-pinned";
export const HELM_CHARTS_PINNED = "helm-chart-version-pinned";

export interface ImageOptions {
  /** Demand a digest (@sha256:...) rather than a tag, e.g. for production. */
  requireDigest: boolean;
}

/** Why an image reference is not pinned, or undefined when it is. */
export function imageProblem(image: string, opts: ImageOptions): string | undefined {
  const ref = image.trim();
  if (ref === "") {
    return "is empty";
  }
  const atSign = ref.indexOf("@");
  if (atSign >= 0) {
    const digest = ref.slice(atSign + 1);
    return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-f0-9]{32,}$/.test(digest) ? undefined : `has a malformed digest "${digest}"`;
  }
  if (opts.requireDigest) {
    return "has no digest (@sha256:...), which this stack requires";
  }
  // A colon after the last slash starts the tag; one before it is a registry port.
  const tagStart = ref.indexOf(":", ref.lastIndexOf("/") + 1);
  if (tagStart < 0) {
    return "has no tag, so it means :latest";
  }
  const tag = ref.slice(tagStart + 1);
  if (tag === "") {
    return "has an empty tag";
  }
  if (tag.toLowerCase() === "latest") {
    return "uses the :latest tag";
  }
  return undefined;
}

export function checkImagesPinned(r: ResourceView, opts: ImageOptions): Violation[] {
  if (!isWorkloadType(r.type)) {
    return [];
  }
  const out: Violation[] = [];
  for (const { list, name, container } of containersOf(podSpecOf(r.type, r.props))) {
    const image = container["image"];
    if (isUnknown(image)) {
      continue;
    }
    const problem = typeof image === "string" ? imageProblem(image, opts) : "is not set";
    if (problem) {
      const shown = typeof image === "string" ? `"${image}" ` : "";
      out.push({
        message: `${describe(r)} ${list} "${name}": image ${shown}${problem}; pin a version tag or a digest so every node runs the same build.`,
      });
    }
  }
  return out;
}

/** A chart from a local path or .tgz file is pinned by the repository that holds it. */
function isLocalChart(chart: string): boolean {
  return chart.startsWith(".") || chart.startsWith("/") || chart.endsWith(".tgz");
}

export function checkHelmChartPinned(r: ResourceView): Violation[] {
  if (r.type !== TYPES.helmReleaseV3 && r.type !== TYPES.helmChartV4) {
    return [];
  }
  const chart = r.props["chart"];
  const version = r.props["version"];
  if (isUnknown(chart) || isUnknown(version)) {
    return [];
  }
  if (typeof chart === "string" && isLocalChart(chart)) {
    return [];
  }
  const v = str(version)?.trim() ?? "";
  const label = `${describe(r)} (chart ${JSON.stringify(chart ?? at(r.props, "name") ?? r.name)})`;
  if (v === "") {
    return [{ message: `${label} has no version, so each run may install whatever the repository serves today; set version.` }];
  }
  // A range is not a pin: Helm resolves it to the newest match.
  if (/[\^~*x><=|]|\s-\s/i.test(v.replace(/^v/, "")) && !/^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/.test(v)) {
    return [{ message: `${label} has version "${v}", a range rather than one version; pin an exact version.` }];
  }
  return [];
}
