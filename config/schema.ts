// Stack config: its shape (zod), its meaning (cross-field checks) and the typed, validated values the
// components receive. Parsed once, in `parseLabConfig`; nothing downstream re-checks user input.
import { z } from "zod";
import { parseDurationMs } from "../specs/duration";
import { BOOKINFO_SERVICES, SERVICE_NAMES, ServiceName, isServiceName, versionsOf } from "../specs/catalogue";
import { cidrContains, cidrsOverlap, parseCidr, parseIPv4, Cidr } from "./cidr";

export const CONFIG_NAMESPACE = "kubeadm-istio-lab";

// ---------------------------------------------------------------------------------------------
// Validated types: what components receive.

export type NodeRole = "controlPlane" | "worker";

export interface NodeSpec {
  name: string;
  role: NodeRole;
  address: string;
  port: number;
  user: string;
}

export interface ClusterSpec {
  /** false: use an existing cluster (kubeconfig/context) and skip nodes and CNI. */
  provision: boolean;
  /** Kubernetes minor version, e.g. "1.34": selects the pkgs.k8s.io repository. */
  kubernetesVersion: string;
  podCidr: string;
  serviceCidr: string;
  apiServerPort: number;
  /** Existing cluster only: kubeconfig file to read (else the `kubeconfig` secret). */
  kubeconfigPath?: string;
  context?: string;
  /** Seconds to wait for the API server to answer before warning (preview) or failing (up). */
  reachabilityTimeoutSeconds: number;
}

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";
export const ADDONS = ["prometheus", "grafana", "kiali", "jaeger"] as const;
export type AddonName = (typeof ADDONS)[number];

export interface IstioSpec {
  /** true: install Istio's Helm charts; false: use the Istio already in the cluster. */
  install: boolean;
  version: string;
  chartRepository: string;
  mtls: MtlsMode;
  ingressNodePort: number;
  addons: Record<AddonName, boolean>;
}

export interface BookinfoSpec {
  namespace: string;
  imageRegistry: string;
  imageTag: string;
  /** Full image overrides keyed by workload, e.g. "reviews-v2". */
  images: Record<string, string>;
  /** NodePort for productpage as in the seed; null for a ClusterIP Service. */
  nodePort: number | null;
  replicas: number;
  /** Host name or address users browse to; defaults to the control plane (or API server host). */
  host?: string;
}

export interface WeaveSpec {
  version: string;
  kubeImage: string;
  npcImage: string;
}

export type StringMatchKind = "exact" | "prefix" | "regex";

export interface RoutePolicy {
  timeoutMs?: number;
  retries?: { attempts: number; perTryTimeoutMs?: number; retryOn?: string };
  fault?: {
    delay?: { percent: number; fixedDelayMs: number };
    abort?: { percent: number; httpStatus: number };
  };
}

export interface HeaderRoute {
  header: string;
  kind: StringMatchKind;
  value: string;
  version: string;
  policy: RoutePolicy;
}

export type Strategy =
  | { kind: "blueGreen"; active: string }
  | { kind: "canary"; stable: string; canary: string; weight: number };

export interface ServiceTraffic {
  strategy: Strategy;
  headerRoutes: HeaderRoute[];
  policy: RoutePolicy;
}

export type TrafficSpec = Record<ServiceName, ServiceTraffic>;

export interface LabConfig {
  cluster: ClusterSpec;
  nodes: NodeSpec[];
  istio: IstioSpec;
  bookinfo: BookinfoSpec;
  weave: WeaveSpec;
  traffic: TrafficSpec;
}

// ---------------------------------------------------------------------------------------------
// Shapes of the raw config. Objects are strict so a typo ("wieght") is an error, not a silent default.

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
  error: "must be a DNS label: lower-case letters, digits and '-'",
});
const port = z.number().int().min(1).max(65535);
const nodePort = z.number().int().min(30000).max(32767);
const percent = z.number().min(0).max(100);
const duration = z.string().refine((s) => (parseDurationMs(s) ?? 0) >= 1, {
  error: "must be a duration of at least 1ms like 500ms, 0.5s, 2s or 1m",
});
const image = z.string().regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, { error: "must be an image reference" });

const rawNode = z.strictObject({
  name,
  role: z.enum(["controlPlane", "worker"]),
  address: z.string().min(1),
  port: port.optional(),
  user: z.string().min(1).optional(),
});

const rawCluster = z.strictObject({
  provision: z.boolean().optional(),
  kubernetesVersion: z
    .string({ error: 'must be a quoted minor version such as "1.34"' })
    .regex(/^1\.\d{2}$/, { error: 'must be a Kubernetes minor version such as "1.34"' })
    .optional(),
  podCidr: z.string().optional(),
  serviceCidr: z.string().optional(),
  apiServerPort: port.optional(),
  kubeconfigPath: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  reachabilityTimeoutSeconds: z.number().min(1).max(120).optional(),
});

const rawIstio = z.strictObject({
  install: z.boolean().optional(),
  version: z
    .string()
    .regex(/^1\.\d+\.\d+$/, { error: 'must be an Istio release such as "1.29.0"' })
    .optional(),
  chartRepository: z.url().optional(),
  mtls: z.enum(["STRICT", "PERMISSIVE", "DISABLE"]).optional(),
  ingressNodePort: nodePort.optional(),
  addons: z.strictObject(Object.fromEntries(ADDONS.map((a) => [a, z.boolean().optional()]))).optional(),
});

const rawBookinfo = z.strictObject({
  namespace: name.optional(),
  imageRegistry: z.string().min(1).optional(),
  imageTag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/).refine((t) => t !== "latest", {
    error: "must be a pinned tag, not latest",
  }).optional(),
  images: z.record(z.string(), image).optional(),
  nodePort: z.union([nodePort, z.literal(false)]).optional(),
  replicas: z.number().int().min(1).max(10).optional(),
  host: z.string().min(1).optional(),
});

const rawWeave = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+$/).optional(),
  kubeImage: image.optional(),
  npcImage: image.optional(),
});

const rawPolicy = {
  timeout: duration.optional(),
  retries: z
    .strictObject({
      attempts: z.number().int().min(0).max(10),
      perTryTimeout: duration.optional(),
      retryOn: z.string().optional(),
    })
    .optional(),
  fault: z
    .strictObject({
      delay: z.strictObject({ percent: percent.optional(), fixedDelay: duration }).optional(),
      abort: z
        .strictObject({ percent: percent.optional(), httpStatus: z.number().int().min(200).max(599) })
        .optional(),
    })
    .optional(),
};

const rawHeaderRoute = z.strictObject({
  header: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, {
    error: "must be a lower-case HTTP header name such as user-agent or end-user",
  }),
  exact: z.string().min(1).optional(),
  prefix: z.string().min(1).optional(),
  regex: z.string().min(1).optional(),
  version: z.string(),
  ...rawPolicy,
});

const rawServiceTraffic = z.strictObject({
  strategy: z.enum(["blueGreen", "canary"]).optional(),
  active: z.string().optional(),
  stable: z.string().optional(),
  canary: z.string().optional(),
  weight: z.number().int({ error: "must be a whole percentage" }).min(0).max(100).optional(),
  headerRoutes: z.array(rawHeaderRoute).optional(),
  ...rawPolicy,
});

// ---------------------------------------------------------------------------------------------

export const DEFAULTS = {
  kubernetesVersion: "1.34",
  podCidr: "10.0.0.0/16",
  serviceCidr: "10.96.0.0/12",
  apiServerPort: 6443,
  sshPort: 22,
  sshUser: "debian",
  istioVersion: "1.29.0",
  istioCharts: "https://istio-release.storage.googleapis.com/charts",
  ingressNodePort: 31080,
  bookinfoNamespace: "bookinfo",
  bookinfoRegistry: "docker.io/istio",
  bookinfoTag: "1.20.3",
  bookinfoNodePort: 30080,
  weaveVersion: "2.8.1",
  reachabilityTimeoutSeconds: 5,
} as const;

/** Retry conditions Istio passes to Envoy's x-envoy-retry-on / x-envoy-retry-grpc-on. */
const RETRY_ON = new Set([
  "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
  "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
  "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
]);

/** Raw values as read from Pulumi config: objects are unparsed, secrets only reported as present. */
export interface RawConfig {
  cluster?: unknown;
  nodes?: unknown;
  istio?: unknown;
  bookinfo?: unknown;
  weave?: unknown;
  traffic?: unknown;
  hasSshPrivateKey: boolean;
  hasKubeconfig: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}); nothing was changed:\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

type Path = readonly PropertyKey[];

function keyOf(root: string, path: Path): string {
  let key = `${CONFIG_NAMESPACE}:${root}`;
  for (const p of path) key += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return key;
}

function valueAt(value: unknown, path: Path): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Parses one top-level key with its schema, collecting readable problems. */
function shape<T>(schema: z.ZodType<T>, root: string, value: unknown, problems: string[]): T | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of result.error.issues) {
    const got = valueAt(value, issue.path);
    const shown = issue.code === "unrecognized_keys" || got === undefined ? "" : ` (got ${JSON.stringify(got)})`;
    problems.push(`${keyOf(root, issue.path)}: ${issue.message}${shown}`);
  }
  return undefined;
}

function allowed(values: readonly string[]): string {
  return values.join(", ");
}

function toPolicy(
  raw: z.infer<typeof rawHeaderRoute> | z.infer<typeof rawServiceTraffic>,
  key: string,
  problems: string[],
): RoutePolicy {
  const policy: RoutePolicy = {};
  if (raw.timeout !== undefined) policy.timeoutMs = parseDurationMs(raw.timeout);
  if (raw.retries) {
    const r = raw.retries;
    const retryOn = r.retryOn?.split(",").map((s) => s.trim()).filter((s) => s !== "");
    const unknown = retryOn?.filter((c) => !RETRY_ON.has(c) && !/^[1-5]\d\d$/.test(c)) ?? [];
    if (unknown.length > 0) {
      problems.push(
        `${key}.retries.retryOn: unknown condition ${unknown.join(", ")}; allowed: ${[...RETRY_ON].join(", ")} or an HTTP status code`,
      );
    }
    policy.retries = {
      attempts: r.attempts,
      perTryTimeoutMs: r.perTryTimeout === undefined ? undefined : parseDurationMs(r.perTryTimeout),
      retryOn: retryOn?.join(","),
    };
    const per = policy.retries.perTryTimeoutMs;
    if (per !== undefined && policy.timeoutMs !== undefined && per * Math.max(r.attempts, 1) > policy.timeoutMs) {
      problems.push(
        `${key}.retries: ${r.attempts} attempts × perTryTimeout ${r.perTryTimeout} exceed the route timeout ${raw.timeout}; ` +
          "lower attempts or perTryTimeout, or raise timeout",
      );
    }
  }
  if (raw.fault) {
    const { delay, abort } = raw.fault;
    if (!delay && !abort) problems.push(`${key}.fault: set delay and/or abort`);
    policy.fault = {
      delay: delay && { percent: delay.percent ?? 100, fixedDelayMs: parseDurationMs(delay.fixedDelay) ?? 0 },
      abort: abort && { percent: abort.percent ?? 100, httpStatus: abort.httpStatus },
    };
  }
  return policy;
}

function checkVersion(service: ServiceName, version: string | undefined, key: string, problems: string[]): string {
  const versions = versionsOf(service);
  if (version === undefined) return versions[0];
  if (!versions.includes(version)) {
    problems.push(`${key}: ${service} has no version ${JSON.stringify(version)}; allowed: ${allowed(versions)}`);
  }
  return version;
}

function toServiceTraffic(
  service: ServiceName,
  raw: z.infer<typeof rawServiceTraffic>,
  problems: string[],
): ServiceTraffic {
  const key = `${CONFIG_NAMESPACE}:traffic.${service}`;
  const isCanary = raw.strategy === "canary" || (raw.strategy === undefined && raw.canary !== undefined);
  let strategy: Strategy;
  if (isCanary) {
    if (raw.stable !== undefined && raw.active !== undefined && raw.stable !== raw.active) {
      problems.push(`${key}: stable (${raw.stable}) and active (${raw.active}) disagree; set only stable for a canary`);
    }
    const stable = checkVersion(service, raw.stable ?? raw.active, `${key}.stable`, problems);
    if (raw.canary === undefined) {
      problems.push(`${key}.canary: required with strategy canary: the version that gets weight%; allowed: ${allowed(versionsOf(service))}`);
    }
    const canary = checkVersion(service, raw.canary, `${key}.canary`, problems);
    if (raw.canary !== undefined && canary === stable) {
      problems.push(`${key}.canary: must differ from the stable version ${stable}`);
    }
    if (raw.weight === undefined) {
      problems.push(`${key}.weight: required with a canary: the percentage (0-100) of requests sent to ${canary}`);
    }
    strategy = { kind: "canary", stable, canary, weight: raw.weight ?? 0 };
  } else {
    for (const field of ["stable", "weight"] as const) {
      if (raw[field] !== undefined) {
        problems.push(`${key}.${field}: only used by a canary; set ${key}.canary too, or remove ${field}`);
      }
    }
    strategy = { kind: "blueGreen", active: checkVersion(service, raw.active, `${key}.active`, problems) };
  }

  const headerRoutes = (raw.headerRoutes ?? []).map((route, i): HeaderRoute => {
    const routeKey = `${key}.headerRoutes[${i}]`;
    const kinds = (["exact", "prefix", "regex"] as const).filter((k) => route[k] !== undefined);
    if (kinds.length !== 1) {
      problems.push(`${routeKey}: set exactly one of exact, prefix or regex (found ${kinds.length === 0 ? "none" : kinds.join(", ")})`);
    }
    const kind = kinds[0] ?? "exact";
    const value = route[kind] ?? "";
    if (kind === "regex") {
      try {
        new RegExp(value);
      } catch {
        problems.push(`${routeKey}.regex: not a valid regular expression: ${value}`);
      }
    }
    return {
      header: route.header,
      kind,
      value,
      version: checkVersion(service, route.version, `${routeKey}.version`, problems),
      policy: toPolicy(route, routeKey, problems),
    };
  });
  return { strategy, headerRoutes, policy: toPolicy(raw, key, problems) };
}

function parseTraffic(raw: unknown, problems: string[]): TrafficSpec {
  const traffic = {} as TrafficSpec;
  const parsed = shape(z.record(z.string(), rawServiceTraffic), "traffic", raw ?? {}, problems) ?? {};
  for (const service of Object.keys(parsed)) {
    if (!isServiceName(service)) {
      problems.push(`${CONFIG_NAMESPACE}:traffic.${service}: unknown service; allowed: ${allowed(SERVICE_NAMES)}`);
    }
  }
  for (const service of SERVICE_NAMES) {
    traffic[service] = toServiceTraffic(service, parsed[service] ?? {}, problems);
  }
  return traffic;
}

function parseNodes(raw: unknown, provision: boolean, problems: string[]): NodeSpec[] {
  if (!provision) {
    if (raw !== undefined) problems.push(`${CONFIG_NAMESPACE}:nodes: only used when cluster.provision is true; remove it or set provision: true`);
    return [];
  }
  const nodes = shape(z.array(rawNode, { error: "must be a list of nodes" }), "nodes", raw ?? [], problems) ?? [];
  const specs = nodes.map((n) => ({
    name: n.name,
    role: n.role,
    address: n.address,
    port: n.port ?? DEFAULTS.sshPort,
    user: n.user ?? DEFAULTS.sshUser,
  }));
  const controlPlanes = specs.filter((n) => n.role === "controlPlane");
  if (controlPlanes.length !== 1) {
    problems.push(
      `${CONFIG_NAMESPACE}:nodes: exactly one node must have role controlPlane (found ${controlPlanes.length}` +
        `${controlPlanes.length > 1 ? ": " + controlPlanes.map((n) => n.name).join(", ") : ""})`,
    );
  }
  const seen = new Map<string, number>();
  specs.forEach((n, i) => {
    const before = seen.get(n.name);
    if (before !== undefined) problems.push(`${CONFIG_NAMESPACE}:nodes[${i}].name: duplicate node name ${n.name} (also nodes[${before}])`);
    seen.set(n.name, i);
  });
  const addresses = new Map<string, number>();
  specs.forEach((n, i) => {
    const before = addresses.get(n.address);
    if (before !== undefined) problems.push(`${CONFIG_NAMESPACE}:nodes[${i}].address: ${n.address} is also nodes[${before}]'s address`);
    addresses.set(n.address, i);
    if (parseIPv4(n.address) === undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(n.address)) {
      problems.push(`${CONFIG_NAMESPACE}:nodes[${i}].address: ${JSON.stringify(n.address)} is neither an IPv4 address nor a host name`);
    }
  });
  return specs;
}

function checkCidrs(cluster: ClusterSpec, nodes: NodeSpec[], problems: string[]): void {
  const parsed: Record<"podCidr" | "serviceCidr", Cidr | undefined> = { podCidr: undefined, serviceCidr: undefined };
  for (const key of ["podCidr", "serviceCidr"] as const) {
    const result = parseCidr(cluster[key]);
    if ("error" in result) problems.push(`${CONFIG_NAMESPACE}:cluster.${key}: ${cluster[key]} ${result.error}`);
    else parsed[key] = result;
  }
  const { podCidr, serviceCidr } = parsed;
  if (podCidr && serviceCidr && cidrsOverlap(podCidr, serviceCidr)) {
    problems.push(
      `${CONFIG_NAMESPACE}:cluster.podCidr: ${podCidr.text} overlaps cluster.serviceCidr ${serviceCidr.text}; pick disjoint ranges`,
    );
  }
  nodes.forEach((n, i) => {
    const address = parseIPv4(n.address);
    if (address === undefined) return;
    for (const [key, cidr] of Object.entries(parsed)) {
      if (cidr && cidrContains(cidr, address)) {
        problems.push(`${CONFIG_NAMESPACE}:nodes[${i}].address: ${n.address} lies inside cluster.${key} ${cidr.text}; node and cluster ranges must not overlap`);
      }
    }
  });
}

/** Turns raw stack config into validated values, or throws one ConfigError listing every problem. */
export function parseLabConfig(raw: RawConfig): LabConfig {
  const problems: string[] = [];
  const c = shape(rawCluster, "cluster", raw.cluster ?? {}, problems) ?? {};
  const cluster: ClusterSpec = {
    provision: c.provision ?? true,
    kubernetesVersion: c.kubernetesVersion ?? DEFAULTS.kubernetesVersion,
    podCidr: c.podCidr ?? DEFAULTS.podCidr,
    serviceCidr: c.serviceCidr ?? DEFAULTS.serviceCidr,
    apiServerPort: c.apiServerPort ?? DEFAULTS.apiServerPort,
    kubeconfigPath: c.kubeconfigPath,
    context: c.context,
    reachabilityTimeoutSeconds: c.reachabilityTimeoutSeconds ?? DEFAULTS.reachabilityTimeoutSeconds,
  };
  const nodes = parseNodes(raw.nodes, cluster.provision, problems);
  checkCidrs(cluster, nodes, problems);
  if (cluster.provision) {
    if (!raw.hasSshPrivateKey) {
      problems.push(
        `${CONFIG_NAMESPACE}:sshPrivateKey: required when cluster.provision is true; ` +
          `set it with: pulumi config set --secret ${CONFIG_NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519`,
      );
    }
    for (const key of ["kubeconfigPath", "context"] as const) {
      if (cluster[key] !== undefined) problems.push(`${CONFIG_NAMESPACE}:cluster.${key}: only used with cluster.provision: false`);
    }
  } else if (!raw.hasKubeconfig && cluster.kubeconfigPath === undefined) {
    problems.push(
      `${CONFIG_NAMESPACE}:cluster.kubeconfigPath: an existing cluster (provision: false) needs cluster.kubeconfigPath ` +
        `or the secret ${CONFIG_NAMESPACE}:kubeconfig`,
    );
  }

  const i = shape(rawIstio, "istio", raw.istio ?? {}, problems) ?? {};
  const istio: IstioSpec = {
    install: i.install ?? true,
    version: i.version ?? DEFAULTS.istioVersion,
    chartRepository: i.chartRepository ?? DEFAULTS.istioCharts,
    mtls: i.mtls ?? "STRICT",
    ingressNodePort: i.ingressNodePort ?? DEFAULTS.ingressNodePort,
    addons: Object.fromEntries(ADDONS.map((a) => [a, i.addons?.[a] ?? false])) as Record<AddonName, boolean>,
  };
  if (!istio.install && ADDONS.some((a) => istio.addons[a])) {
    problems.push(`${CONFIG_NAMESPACE}:istio.addons: addons are installed with Istio's charts; with istio.install: false turn them off`);
  }

  const b = shape(rawBookinfo, "bookinfo", raw.bookinfo ?? {}, problems) ?? {};
  const workloads = Object.entries(BOOKINFO_SERVICES).flatMap(([s, vs]) => vs.map((v) => `${s}-${v}`));
  for (const w of Object.keys(b.images ?? {})) {
    if (!workloads.includes(w)) problems.push(`${CONFIG_NAMESPACE}:bookinfo.images.${w}: unknown workload; allowed: ${allowed(workloads)}`);
  }
  const bookinfo: BookinfoSpec = {
    namespace: b.namespace ?? DEFAULTS.bookinfoNamespace,
    imageRegistry: b.imageRegistry ?? DEFAULTS.bookinfoRegistry,
    imageTag: b.imageTag ?? DEFAULTS.bookinfoTag,
    images: b.images ?? {},
    nodePort: b.nodePort === false ? null : (b.nodePort ?? DEFAULTS.bookinfoNodePort),
    replicas: b.replicas ?? 1,
    host: b.host,
  };
  if (bookinfo.nodePort !== null && bookinfo.nodePort === istio.ingressNodePort) {
    problems.push(`${CONFIG_NAMESPACE}:bookinfo.nodePort: ${bookinfo.nodePort} is also istio.ingressNodePort; pick another`);
  }

  const w = shape(rawWeave, "weave", raw.weave ?? {}, problems) ?? {};
  const weaveVersion = w.version ?? DEFAULTS.weaveVersion;
  const weave: WeaveSpec = {
    version: weaveVersion,
    kubeImage: w.kubeImage ?? `docker.io/weaveworks/weave-kube:${weaveVersion}`,
    npcImage: w.npcImage ?? `docker.io/weaveworks/weave-npc:${weaveVersion}`,
  };

  const traffic = parseTraffic(raw.traffic, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { cluster, nodes, istio, bookinfo, weave, traffic };
}
