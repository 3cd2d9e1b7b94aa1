// Stack config: its shape (zod), its meaning (cross-field checks) and the typed, validated values the
// components receive. Parsed once, in `parseLabConfig`; nothing downstream re-checks user input.
import { isIP } from "net";
import { z } from "zod";
import { RE2JS } from "re2js";
import { parseDurationMs } from "../specs/duration";
import { BOOKINFO_SERVICES, SERVICE_NAMES, ServiceName, isServiceName, versionsOf } from "../specs/catalogue";
import { cidrContains, cidrsOverlap, parseCidr, parseIPv4, Cidr } from "./cidr";
import {
  aptUrlTemplateProblem,
  fingerprintProblem,
  MINOR_PLACEHOLDER,
  normalisedFingerprint,
  POSIX_USER,
  urlProblem,
  UrlRules,
} from "./safe-strings";
import { EXAMPLE_HOST_KEY, hostKeyProblem, missingHostKeyProblem, parseHostKey } from "./hostKeys";

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
  /**
   * The SSH host key the node must present, `<type> <base64>`; every connection to it checks it.
   * Undefined only on a stack that opted out (cluster.insecureSkipHostKeyCheck).
   */
  hostKey?: string;
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
  /**
   * Let kubelet run on machines still on cgroup v1 (kubelet 1.35+ refuses them by default): kubelet's
   * failCgroupV1 off and kubeadm's SystemVerification check made a warning. Off: such a node fails early.
   */
  allowCgroupV1: boolean;
  /**
   * kube-proxy's conntrack.maxPerCore; unset: kube-proxy's default (32768, it raises the kernel's
   * nf_conntrack_max to that per core). 0 leaves the kernel's limit as it is: for machines that are
   * containers (LXD, systemd-nspawn), where that limit belongs to the host and cannot be written.
   */
  kubeProxyConntrackMaxPerCore?: number;
  /** The pod network: Weave Net (the lab's, archived upstream) or flannel (maintained). */
  cni: CniName;
  /** Nodes may omit hostKey, and are then connected to whatever host key answers (warned on every run). */
  insecureSkipHostKeyCheck: boolean;
}

export const CNI_NAMES = ["weave", "flannel"] as const;
export type CniName = (typeof CNI_NAMES)[number];

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";
export const ADDONS = ["prometheus", "grafana", "kiali", "jaeger"] as const;
export type AddonName = (typeof ADDONS)[number];

export interface IstioSpec {
  /** true: install Istio's Helm charts; false: use the Istio already in the cluster. */
  install: boolean;
  version: string;
  chartRepository: string;
  /** Registry and path of Istio's images (pilot, proxyv2): the charts' global.hub. */
  hub: string;
  mtls: MtlsMode;
  ingressNodePort: number;
  addons: Record<AddonName, boolean>;
  /**
   * istiod runs outside the cluster (Istio's external control plane): the charts install only what
   * the cluster needs, and the API server calls istiod's webhooks at this base URL (/inject, /validate).
   */
  externalIstiod?: { webhookUrl: string };
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

export interface FlannelSpec {
  version: string;
  /** flanneld's image. */
  image: string;
  /** The image that carries the `flannel` CNI plugin binary (at /flannel). */
  cniPluginImage: string;
  /** vxlan (any network) or host-gw (machines on one L2 segment: plain routes, no encapsulation). */
  backend: "vxlan" | "host-gw";
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

/** An apt repository: the `deb` line's parts and where its signing key is fetched from. */
export interface AptSource {
  url: string;
  /** Distribution ("bookworm"), or undefined for the machine's own codename; "/" for a flat repository. */
  suite?: string;
  component?: string;
  keyUrl: string;
  /**
   * The signing key's OpenPGP v4 fingerprint (40 upper-case hex digits), checked on the machine before
   * apt trusts the downloaded key; undefined: the key is trusted as first downloaded (https only).
   */
  keyFingerprint?: string;
}

/** Where the machines download from: the public defaults, or a user's mirrors (offline installs). */
export interface SourcesSpec {
  /** containerd's packages (Docker's repository by default). */
  containerd: AptSource & { package: string };
  /** kubeadm, kubelet, kubectl (pkgs.k8s.io's flat repository for the configured minor by default). */
  kubernetes: AptSource;
  /** kubeadm's imageRepository: where the control-plane, kube-proxy, etcd, CoreDNS and pause images come from. */
  imageRepository: string;
  /** containerd mirrors by registry host, e.g. {"docker.io": "https://mirror.example:5000"}. */
  registryMirrors: Record<string, string>;
}

export interface LabConfig {
  sources: SourcesSpec;
  cluster: ClusterSpec;
  nodes: NodeSpec[];
  istio: IstioSpec;
  bookinfo: BookinfoSpec;
  weave: WeaveSpec;
  flannel: FlannelSpec;
  traffic: TrafficSpec;
}

// ---------------------------------------------------------------------------------------------
// Shapes of the raw config. Objects are strict so a typo ("wieght") is an error, not a silent default.
// Each part is parsed field by field (see `fields`): one bad value is reported and left out, the rest
// is still checked, and a check that needs a bad value is skipped instead of run on a default.

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
  error: "must be a DNS label: lower-case letters, digits and '-'",
});
const port = z.number().int().min(1).max(65535);
const nodePort = z.number().int().min(30000).max(32767);
const percent = z.number().min(0).max(100);
const duration = z.string().refine((s) => (parseDurationMs(s) ?? 0) >= 1, {
  error: "must be a duration of at least 1ms like 500ms, 0.5s, 2s or 1m",
});
/** A string judged by one of config/safe-strings.ts's checks, whose answer is the message. */
const checked = (error: string, problem: (text: string) => string | undefined) =>
  z.string({ error }).superRefine((text, ctx) => {
    const found = problem(text);
    if (found) ctx.addIssue({ code: "custom", message: found });
  });
/** A URL the scripts and charts can pass on as written. */
const url = (rules: UrlRules) => checked(`must be ${rules.what ?? "a URL"}`, (text) => urlProblem(text, rules));
const HTTP = { schemes: ["http", "https"], what: "an http:// or https:// URL" } as const;
const KUBERNETES_APT: UrlRules = { ...HTTP, what: "an http:// or https:// URL, optionally with {minor}", apt: true };
const httpUrl = url(HTTP);
const registryHost = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/, {
  error: "must be a registry host such as registry.example.com or 10.0.0.5:5000",
});
const registryPath = z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, {
  error: "must be a registry and optional path such as registry.k8s.io or mirror.example:5000/istio",
});

/** Why an image reference is not pinned, or undefined when it is (a tag other than latest, or a digest). */
export function imagePinProblem(ref: string): string | undefined {
  if (/@sha256:[a-f0-9]{64}$/.test(ref)) return undefined;
  const last = ref.slice(ref.lastIndexOf("/") + 1);
  const colon = last.indexOf(":");
  if (colon < 0) return "has no tag; pin a version, e.g. docker.io/istio/examples-bookinfo-reviews-v2:1.20.3";
  if (last.slice(colon + 1) === "latest") return "is tagged latest; pin a version (a tag or an @sha256: digest)";
  return undefined;
}
const image = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, { error: "must be an image reference" })
  .superRefine((ref, ctx) => {
    const problem = imagePinProblem(ref);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** Why `address` is neither an IPv4 or IPv6 address nor an RFC 1123 host name, or undefined. */
export function addressProblem(address: string): string | undefined {
  if (address.includes("%")) return "has a zone index (%...), which kubeadm cannot advertise; write the address alone";
  if (isIP(address) !== 0) return undefined;
  if (/^[\d.]+$/.test(address)) return "is not a valid IPv4 address (four numbers 0-255, e.g. 192.0.2.10)";
  if (address.includes(":")) return "is not a valid IPv6 address (e.g. 2001:db8::10)";
  const labels = address.split(".");
  const hostname =
    address.length <= 253 &&
    labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(l)) &&
    !/^\d+$/.test(labels[labels.length - 1]);
  return hostname ? undefined : "is neither an IP address nor a host name (e.g. 192.0.2.10 or nieve.example.com)";
}

const rawNode = z.strictObject({
  name,
  role: z.enum(["controlPlane", "worker"]),
  address: z.string().min(1),
  port: port.optional(),
  user: z
    .string()
    .regex(POSIX_USER, { error: "must be a user name: lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters (e.g. debian)" })
    .optional(),
  hostKey: checked(`must be the node's SSH host key as ssh-keyscan prints it without the host name, e.g. "${EXAMPLE_HOST_KEY}"`, hostKeyProblem).optional(),
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
  allowCgroupV1: z.boolean().optional(),
  kubeProxyConntrackMaxPerCore: z.number().int({ error: "must be a whole number" }).min(0).max(1 << 20).optional(),
  cni: z.enum(CNI_NAMES, { error: `must be one of ${CNI_NAMES.join(", ")}` }).optional(),
  insecureSkipHostKeyCheck: z.boolean().optional(),
});

const rawIstio = z.strictObject({
  install: z.boolean().optional(),
  version: z
    .string()
    // A pre-release suffix as Istio's own pre-release and development charts carry (1.30.0-beta.0).
    .regex(/^1\.\d+\.\d+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$/, {
      error: 'must be an Istio release such as "1.29.0" (or a pre-release such as "1.30.0-beta.0")',
    })
    .optional(),
  chartRepository: httpUrl.optional(),
  externalIstiod: z
    .strictObject({
      webhookUrl: url({ schemes: ["https"], what: "an https:// URL (the API server calls istiod's webhooks over TLS)" }),
    })
    .optional(),
  hub: registryPath.optional(),
  mtls: z.enum(["STRICT", "PERMISSIVE", "DISABLE"]).optional(),
  ingressNodePort: nodePort.optional(),
  addons: z.strictObject(Object.fromEntries(ADDONS.map((a) => [a, z.boolean().optional()]))).optional(),
});

const rawBookinfo = z.strictObject({
  namespace: name.optional(),
  imageRegistry: registryPath.optional(),
  imageTag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/).refine((t) => t !== "latest", {
    error: "must be a pinned tag, not latest",
  }).optional(),
  images: z.record(z.string(), z.unknown()).optional(),
  nodePort: z.union([nodePort, z.literal(false)]).optional(),
  replicas: z.number().int().min(1).max(10).optional(),
  host: z.string().min(1).optional(),
});

const rawWeave = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+$/, { error: 'must be a release such as "2.8.1"' }).optional(),
  registry: registryPath.optional(),
  kubeImage: image.optional(),
  npcImage: image.optional(),
});

const rawFlannel = z.strictObject({
  version: z.string().regex(/^v\d+\.\d+\.\d+$/, { error: 'must be a release such as "v0.28.10"' }).optional(),
  registry: registryPath.optional(),
  image: image.optional(),
  cniPluginVersion: z.string().regex(/^v\d+\.\d+\.\d+(-flannel\d+)?$/, { error: 'must be a release such as "v1.9.1-flannel3"' }).optional(),
  cniPluginImage: image.optional(),
  backend: z.enum(["vxlan", "host-gw"], { error: "must be vxlan or host-gw" }).optional(),
});

const debPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, { error: "must be a Debian package name" });
const aptUrl = url({ ...HTTP, apt: true });
const keyFingerprint = checked(
  "must be an OpenPGP v4 fingerprint: 40 hex digits, written as a quoted string",
  fingerprintProblem,
).transform(normalisedFingerprint);

/**
 * The public repositories' signing keys, by the URL the defaults fetch them from, with the fingerprints
 * their owners publish. A keyUrl elsewhere (a mirror) has no default: the user pins it or trusts it on
 * first download.
 */
const PUBLIC_SIGNING_KEYS: readonly { keyUrl: RegExp; fingerprint: string }[] = [
  // Docker's apt key.
  { keyUrl: /^https:\/\/download\.docker\.com\/linux\/debian\/gpg$/, fingerprint: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88" },
  // pkgs.k8s.io's: one key (the OBS project isv:kubernetes) signs every core:/stable:/v1.x repository.
  { keyUrl: /^https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.\d+\/deb\/Release\.key$/, fingerprint: "DE15B14486CD377B9E876E1A234654DA9A296436" },
];
const rawSources = z.strictObject({
  containerd: z
    .strictObject({
      aptUrl: aptUrl.optional(),
      suite: z.string().regex(/^[a-z0-9][a-z0-9.-]*$|^\/$/, { error: 'must be a distribution such as bookworm, or "/"' }).optional(),
      component: z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, { error: "must be a component such as stable" }).optional(),
      keyUrl: httpUrl.optional(),
      keyFingerprint: keyFingerprint.optional(),
      package: debPackage.optional(),
    })
    .optional(),
  kubernetes: z
    .strictObject({
      // As written here; the URL it becomes is checked in parseSources, where the minor is known.
      aptUrl: checked(`must be ${KUBERNETES_APT.what}`, aptUrlTemplateProblem).optional(),
      keyUrl: httpUrl.optional(),
      keyFingerprint: keyFingerprint.optional(),
    })
    .optional(),
  imageRepository: registryPath.optional(),
  // Keys are checked in parseSources, where a bad one can be named.
  registryMirrors: z.record(z.string(), httpUrl).optional(),
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
  // Each route is parsed on its own, so one bad route does not hide the others.
  headerRoutes: z.array(z.unknown(), { error: "must be a list of routes" }).optional(),
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
  istioHub: "docker.io/istio",
  ingressNodePort: 31080,
  bookinfoNamespace: "bookinfo",
  bookinfoRegistry: "docker.io/istio",
  bookinfoTag: "1.20.3",
  bookinfoNodePort: 30080,
  weaveVersion: "2.8.1",
  weaveRegistry: "docker.io/weaveworks",
  // As flannel's own manifest of that release pins them.
  flannelVersion: "v0.28.10",
  flannelCniPluginVersion: "v1.9.1-flannel3",
  flannelRegistry: "ghcr.io/flannel-io",
  reachabilityTimeoutSeconds: 5,
  containerdAptUrl: "https://download.docker.com/linux/debian",
  containerdComponent: "stable",
  containerdPackage: "containerd.io",
  // One pkgs.k8s.io repository per minor version: {minor} is replaced by cluster.kubernetesVersion.
  kubernetesAptUrl: "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/",
  imageRepository: "registry.k8s.io",
} as const;

/** Retry conditions Istio passes to Envoy's x-envoy-retry-on / x-envoy-retry-grpc-on. */
const RETRY_ON = new Set([
  "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
  "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
  "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
]);

/** The top-level keys of the project's config namespace; any other key there is a mistake. */
export const CONFIG_KEYS = [
  "cluster", "nodes", "istio", "bookinfo", "weave", "flannel", "traffic", "sources",
  "sshPrivateKey", "sshPrivateKeyPath", "kubeconfig",
] as const;

/** Raw values as read from Pulumi config: objects are unparsed, secrets only reported as present. */
export interface RawConfig {
  cluster?: unknown;
  nodes?: unknown;
  istio?: unknown;
  bookinfo?: unknown;
  weave?: unknown;
  flannel?: unknown;
  traffic?: unknown;
  sources?: unknown;
  /** Every top-level key set in the namespace (without the prefix), when read from a stack. */
  keys?: string[];
  hasSshPrivateKey: boolean;
  hasKubeconfig: boolean;
  /** The stack's name, for the commands messages suggest. */
  stack?: string;
}

export interface ParseOptions {
  /**
   * Refuse a provisioned node without hostKey unless the stack opted out (default true). Tools that
   * never connect with the config's keys (render, routes, host-keys) read a stack that has none yet.
   */
  requireHostKeys?: boolean;
}

/** RawConfig from every value of the namespace, keyed without the project prefix. */
export function rawConfigFrom(
  values: Record<string, unknown>,
  secrets: { hasSshPrivateKey: boolean; hasKubeconfig: boolean; stack?: string },
): RawConfig {
  return {
    cluster: values.cluster,
    nodes: values.nodes,
    istio: values.istio,
    bookinfo: values.bookinfo,
    weave: values.weave,
    flannel: values.flannel,
    traffic: values.traffic,
    sources: values.sources,
    keys: Object.keys(values),
    ...secrets,
  };
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

function allowed(values: readonly string[]): string {
  return values.join(", ");
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length];
}

/** The known key closest to a mistyped one, if it is close enough to be what was meant. */
export function nearest(key: string, known: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (!best || d < best.d) best = { k, d };
  }
  if (best && best.d <= Math.max(2, Math.floor(best.k.length / 3))) return best.k;
  // A shortened key ("imageRepo") means the key it starts.
  const lower = key.toLowerCase();
  return lower.length >= 4 ? known.find((k) => k.toLowerCase().startsWith(lower)) : undefined;
}

function unknownKey(where: string, key: string, known: readonly string[], what = "key"): string {
  const guess = nearest(key, known);
  return `${where}.${key}: unknown ${what}; ${guess ? `did you mean ${guess}? ` : ""}allowed: ${allowed(known)}`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === null ? "nothing (an empty value)" : JSON.stringify(v);
}

/** Known keys of the object schema at `path` inside `schema`, for did-you-mean hints in nested objects. */
function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let s: z.ZodType = schema;
  for (const p of path) {
    while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    if (s instanceof z.ZodObject) s = s.shape[String(p)] as z.ZodType;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
    if (s === undefined) return undefined;
  }
  while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function pathKey(key: string, path: readonly PropertyKey[]): string {
  return key + path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
}

/** Parses one value with its schema; each issue becomes a problem naming its full key. */
function check<T>(schema: z.ZodType<T>, key: string, value: unknown, problems: string[]): { ok: true; data: T } | { ok: false } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, data: result.data };
  for (const issue of result.error.issues) {
    const at = pathKey(key, issue.path);
    const got = valueAt(value, issue.path);
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(schema, issue.path) ?? [];
      for (const k of issue.keys) problems.push(unknownKey(at, k, known));
    } else if (got === undefined && issue.code === "invalid_type") {
      problems.push(`${at}: required`);
    } else {
      problems.push(`${at}: ${issue.message} (got ${describe(got)})`);
    }
  }
  return { ok: false };
}

type Shape = z.core.$ZodShape;

/** An object's fields that parsed, and the names of those that did not (reported in `problems`). */
interface Fields<S extends Shape> {
  value: Partial<z.output<z.ZodObject<S>>>;
  failed: Set<string>;
}

/**
 * Parses a (strict) object field by field: unknown keys are reported with the nearest known key, a bad
 * field is reported and left out, the other fields are kept. Undefined when `raw` is not an object.
 */
function fields<S extends Shape>(schema: z.ZodObject<S>, key: string, raw: unknown, problems: string[]): Fields<S> | undefined {
  if (raw === undefined) return { value: {}, failed: new Set() };
  if (!isPlainObject(raw)) {
    problems.push(
      raw === null
        ? `${key}: is empty; give it values (e.g. with pulumi config set --path) or remove the key`
        : `${key}: must be a map of keys (got ${describe(raw)})`,
    );
    return undefined;
  }
  const known = Object.keys(schema.shape);
  const value: Record<string, unknown> = {};
  const failed = new Set<string>();
  for (const k of Object.keys(raw)) {
    if (known.includes(k)) continue;
    problems.push(unknownKey(key, k, known));
    // "wieght" is most likely weight: do not also report weight as missing.
    const meant = nearest(k, known);
    if (meant !== undefined && raw[meant] === undefined) failed.add(meant);
  }
  for (const k of known) {
    const r = check(schema.shape[k] as z.ZodType, `${key}.${k}`, raw[k], problems);
    if (r.ok) {
      if (r.data !== undefined) value[k] = r.data;
    } else failed.add(k);
  }
  return { value: value as Partial<z.output<z.ZodObject<S>>>, failed };
}

const NS = CONFIG_NAMESPACE;

function toPolicy(
  raw: { timeout?: string; retries?: z.infer<typeof rawPolicy.retries>; fault?: z.infer<typeof rawPolicy.fault> },
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

/** Istio hands header regexes to Envoy's RE2: lookarounds and backreferences that JavaScript takes are refused there. */
export function re2Problem(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function toHeaderRoute(service: ServiceName, raw: unknown, key: string, problems: string[]): HeaderRoute | undefined {
  const parsed = fields(rawHeaderRoute, key, raw, problems);
  if (!parsed) return undefined;
  const { value: route, failed } = parsed;
  const kinds = (["exact", "prefix", "regex"] as const).filter((k) => route[k] !== undefined || failed.has(k));
  if (kinds.length !== 1) {
    problems.push(`${key}: set exactly one of exact, prefix or regex (found ${kinds.length === 0 ? "none" : kinds.join(", ")})`);
  }
  const kind = kinds[0] ?? "exact";
  const value = route[kind] ?? "";
  if (kind === "regex" && route.regex !== undefined) {
    const problem = re2Problem(route.regex);
    if (problem) problems.push(`${key}.regex: not a valid RE2 regular expression, the syntax Istio and Envoy take (no lookaround, no backreference): ${problem}`);
  }
  return {
    header: route.header ?? "",
    kind,
    value,
    version: failed.has("version") ? "" : checkVersion(service, route.version, `${key}.version`, problems),
    policy: toPolicy(route, key, problems),
  };
}

function toServiceTraffic(service: ServiceName, raw: unknown, problems: string[]): ServiceTraffic {
  const key = `${NS}:traffic.${service}`;
  const fallback: ServiceTraffic = { strategy: { kind: "blueGreen", active: versionsOf(service)[0] }, headerRoutes: [], policy: {} };
  const parsed = fields(rawServiceTraffic, key, raw, problems);
  if (!parsed) return fallback;
  const { value: t, failed } = parsed;
  const unknownStrategy = failed.has("strategy");
  const isCanary = t.strategy === "canary" || (t.strategy === undefined && (t.canary !== undefined || failed.has("canary")));
  let strategy: Strategy = fallback.strategy;
  if (unknownStrategy) {
    // Without a valid strategy only the versions named can be checked.
    for (const field of ["active", "stable", "canary"] as const) checkVersion(service, t[field], `${key}.${field}`, problems);
  } else if (isCanary) {
    if (t.stable !== undefined && t.active !== undefined && t.stable !== t.active) {
      problems.push(`${key}: stable (${t.stable}) and active (${t.active}) disagree; set only stable for a canary`);
    }
    const stable = checkVersion(service, t.stable ?? t.active, `${key}.${t.stable !== undefined ? "stable" : "active"}`, problems);
    if (t.canary === undefined && !failed.has("canary")) {
      problems.push(`${key}.canary: required with strategy canary: the version that gets weight%; allowed: ${allowed(versionsOf(service))}`);
    }
    const canary = checkVersion(service, t.canary, `${key}.canary`, problems);
    if (t.canary !== undefined && canary === stable) problems.push(`${key}.canary: must differ from the stable version ${stable}`);
    if (t.weight === undefined && !failed.has("weight")) {
      problems.push(`${key}.weight: required with a canary: the percentage (0-100) of requests sent to ${canary}`);
    }
    strategy = { kind: "canary", stable, canary, weight: t.weight ?? 0 };
  } else {
    for (const field of ["stable", "weight"] as const) {
      if (t[field] !== undefined) problems.push(`${key}.${field}: only used by a canary; set ${key}.canary too, or remove ${field}`);
    }
    strategy = { kind: "blueGreen", active: checkVersion(service, t.active, `${key}.active`, problems) };
  }
  const headerRoutes = (t.headerRoutes ?? [])
    .map((route, i) => toHeaderRoute(service, route, `${key}.headerRoutes[${i}]`, problems))
    .filter((r): r is HeaderRoute => r !== undefined);
  return { strategy, headerRoutes, policy: toPolicy(t, key, problems) };
}

function parseTraffic(raw: unknown, problems: string[]): TrafficSpec {
  const traffic = {} as TrafficSpec;
  let services: Record<string, unknown> = {};
  if (raw === null) problems.push(`${NS}:traffic: is empty; set a service's routing (e.g. traffic.reviews.active v1) or remove the key`);
  else if (raw !== undefined && !isPlainObject(raw)) problems.push(`${NS}:traffic: must be a map of services (got ${describe(raw)})`);
  else services = raw ?? {};
  for (const service of Object.keys(services)) {
    if (!isServiceName(service)) problems.push(unknownKey(`${NS}:traffic`, service, SERVICE_NAMES, "service"));
  }
  for (const service of SERVICE_NAMES) traffic[service] = toServiceTraffic(service, services[service], problems);
  return traffic;
}

/** A host key as connections take it: an RSA key written under a signature algorithm's name becomes ssh-rsa. */
function canonicalHostKey(text: string): string {
  const key = parseHostKey(text);
  // Only called on text the schema accepted.
  return "error" in key ? text : key.text;
}

/** A node as far as it parsed: each field is undefined when it was missing or bad. */
interface PartialNode {
  index: number;
  name?: string;
  role?: NodeRole;
  roleKnown: boolean;
  address?: string;
  port: number;
  user: string;
  hostKey?: string;
  hostKeyFailed: boolean;
}

/** What parseNodes needs to know of the cluster part and the caller. */
interface NodeRules {
  provision: boolean | undefined;
  /** Whether a node without hostKey is refused; undefined when that is not known (a bad cluster part). */
  hostKeyRequired: boolean | undefined;
  stack?: string;
}

function parseNodes(raw: unknown, rules: NodeRules, problems: string[]): NodeSpec[] {
  const { provision } = rules;
  if (provision === false) {
    if (raw !== undefined) problems.push(`${NS}:nodes: only used when cluster.provision is true; remove it or set provision: true`);
    return [];
  }
  let list: unknown[] | undefined = [];
  if (raw === null || (raw !== undefined && !Array.isArray(raw))) {
    problems.push(`${NS}:nodes: must be a list of nodes with name, role and address (got ${describe(raw)})`);
    list = undefined;
  } else list = raw ?? [];
  const nodes: PartialNode[] = (list ?? []).flatMap((n, index) => {
    const parsed = fields(rawNode, `${NS}:nodes[${index}]`, n, problems);
    if (!parsed) return [];
    const { value, failed } = parsed;
    let address = value.address;
    if (address !== undefined) {
      const problem = addressProblem(address);
      if (problem) {
        problems.push(`${NS}:nodes[${index}].address: ${JSON.stringify(address)} ${problem}`);
        address = undefined;
      }
    }
    return [{
      index,
      name: value.name,
      role: value.role,
      roleKnown: !failed.has("role"),
      address,
      port: value.port ?? DEFAULTS.sshPort,
      user: value.user ?? DEFAULTS.sshUser,
      hostKey: value.hostKey === undefined ? undefined : canonicalHostKey(value.hostKey),
      hostKeyFailed: failed.has("hostKey"),
    }];
  });
  if (provision === true && rules.hostKeyRequired === true) {
    for (const n of nodes) {
      if (n.hostKey === undefined && !n.hostKeyFailed) problems.push(missingHostKeyProblem(NS, n.index, n.name ?? `nodes[${n.index}]`, rules.stack));
    }
  }

  // The count of control planes is only true when every node's role is known (or too many are).
  const controlPlanes = nodes.filter((n) => n.role === "controlPlane");
  const allRolesKnown = list !== undefined && nodes.length === list.length && nodes.every((n) => n.roleKnown);
  if (provision === true && (controlPlanes.length > 1 || (allRolesKnown && controlPlanes.length === 0))) {
    problems.push(
      `${NS}:nodes: exactly one node must have role controlPlane (found ${controlPlanes.length}` +
        `${controlPlanes.length > 1 ? ": " + controlPlanes.map((n) => n.name).join(", ") : ""})`,
    );
  }
  for (const field of ["name", "address"] as const) {
    const seen = new Map<string, number>();
    for (const n of nodes) {
      const v = n[field];
      if (v === undefined) continue;
      const before = seen.get(v);
      if (before !== undefined) {
        problems.push(
          field === "name"
            ? `${NS}:nodes[${n.index}].name: duplicate node name ${v} (also nodes[${before}])`
            : `${NS}:nodes[${n.index}].address: ${v} is also nodes[${before}]'s address`,
        );
      }
      seen.set(v, n.index);
    }
  }
  return nodes.flatMap((n) =>
    n.name !== undefined && n.role !== undefined && n.address !== undefined
      ? [{ name: n.name, role: n.role, address: n.address, port: n.port, user: n.user, ...(n.hostKey === undefined ? {} : { hostKey: n.hostKey }) }]
      : [],
  );
}

function checkCidrs(cidrs: { podCidr?: string; serviceCidr?: string }, nodes: NodeSpec[], problems: string[]): void {
  const parsed: Partial<Record<"podCidr" | "serviceCidr", Cidr>> = {};
  for (const key of ["podCidr", "serviceCidr"] as const) {
    const text = cidrs[key];
    if (text === undefined) continue;
    const result = parseCidr(text);
    if ("error" in result) problems.push(`${NS}:cluster.${key}: ${text} ${result.error}`);
    else parsed[key] = result;
  }
  const { podCidr, serviceCidr } = parsed;
  if (podCidr && serviceCidr && cidrsOverlap(podCidr, serviceCidr)) {
    problems.push(`${NS}:cluster.podCidr: ${podCidr.text} overlaps cluster.serviceCidr ${serviceCidr.text}; pick disjoint ranges`);
  }
  nodes.forEach((n, i) => {
    const address = parseIPv4(n.address);
    if (address === undefined) return;
    for (const [key, cidr] of Object.entries(parsed)) {
      if (cidr && cidrContains(cidr, address)) {
        problems.push(`${NS}:nodes[${i}].address: ${n.address} lies inside cluster.${key} ${cidr.text}; node and cluster ranges must not overlap`);
      }
    }
  });
}

function checkTopLevelKeys(keys: readonly string[], problems: string[]): void {
  for (const key of keys) {
    if ((CONFIG_KEYS as readonly string[]).includes(key)) continue;
    const [head] = key.split(".");
    if (key.includes(".") && (CONFIG_KEYS as readonly string[]).includes(head)) {
      problems.push(`${NS}:${key}: a key with dots is one flat key; to set a nested value use --path: pulumi config set --path ${key} VALUE (then pulumi config rm ${NS}:${key})`);
      continue;
    }
    const guess = nearest(key, CONFIG_KEYS);
    problems.push(`${NS}:${key}: unknown key of this project; ${guess ? `did you mean ${NS}:${guess}? ` : ""}known keys: ${allowed(CONFIG_KEYS)}`);
  }
}

type AptSourceName = "containerd" | "kubernetes";

/** How to find the fingerprint to pin, for messages. */
const pinHow = (keyUrl: string) => `its 40 hex digits, as curl -fsSL ${keyUrl} | gpg --show-keys prints them`;

/**
 * The fingerprint a source's signing key is checked against: the configured one, else the published one
 * of a public repository's key URL; undefined when the key is trusted on first download. A key that
 * comes over plain http must be pinned: anyone on the path could hand the machines another one.
 */
function keyFingerprintOf(name: AptSourceName, keyUrl: string, keyUrlSet: boolean, pinned: string | undefined, problems: string[]): string | undefined {
  const fingerprint = pinned ?? PUBLIC_SIGNING_KEYS.find((k) => k.keyUrl.test(keyUrl))?.fingerprint;
  if (fingerprint === undefined && /^http:/i.test(keyUrl)) {
    const pin = `or pin the key with sources.${name}.keyFingerprint (${pinHow(keyUrl)})`;
    problems.push(
      keyUrlSet
        ? `${NS}:sources.${name}.keyUrl: ${JSON.stringify(keyUrl)} is plain http, where anyone on the path can hand the machines another signing key; use an https:// URL, ${pin}`
        : `${NS}:sources.${name}.keyUrl: not set, so the signing key would come from ${JSON.stringify(keyUrl)} (next to sources.${name}.aptUrl) over plain http, ` +
            `where anyone on the path can hand the machines another one; set sources.${name}.keyUrl to an https:// URL, ${pin}`,
    );
  }
  return fingerprint;
}

/**
 * One warning per apt source whose signing key is trusted as first downloaded (a custom https keyUrl
 * without keyFingerprint), naming the key that pins it. Empty when every key is checked.
 */
export function unpinnedKeyWarnings(sources: Pick<SourcesSpec, AptSourceName>): string[] {
  return (["containerd", "kubernetes"] as const)
    .filter((name) => sources[name].keyFingerprint === undefined)
    .map(
      (name) =>
        `${NS}:sources.${name}.keyFingerprint is not set: the machines trust whatever signing key ${sources[name].keyUrl} serves on its first download ` +
        `(over https, but unchecked). Pin it with ${pinHow(sources[name].keyUrl)}.`,
    );
}

function parseSources(raw: unknown, minor: string, problems: string[]): SourcesSpec {
  const s = fields(rawSources, `${NS}:sources`, raw, problems)?.value ?? {};
  const c = s.containerd ?? {};
  const k = s.kubernetes ?? {};
  const kubernetesUrl = (k.aptUrl ?? DEFAULTS.kubernetesAptUrl).split(MINOR_PLACEHOLDER).join(minor);
  const usedProblem = urlProblem(kubernetesUrl, KUBERNETES_APT);
  if (k.aptUrl !== undefined && usedProblem) {
    const filled = kubernetesUrl === k.aptUrl ? "" : `, used as ${JSON.stringify(kubernetesUrl)}`;
    problems.push(`${NS}:sources.kubernetes.aptUrl: ${usedProblem} (got ${JSON.stringify(k.aptUrl)}${filled})`);
  }
  for (const registry of Object.keys(s.registryMirrors ?? {})) {
    if (!registryHost.safeParse(registry).success) {
      // A key with spaces or line breaks is shown quoted, so the message stays one line.
      const shown = /^[\x21-\x7e]+$/.test(registry) ? registry : JSON.stringify(registry);
      problems.push(`${NS}:sources.registryMirrors.${shown}: must be a registry host such as docker.io or 10.0.0.5:5000, without a scheme`);
    }
  }
  const slash = (u: string) => (u.endsWith("/") ? u : `${u}/`);
  const containerdUrl = c.aptUrl ?? DEFAULTS.containerdAptUrl;
  const containerdKeyUrl = c.keyUrl ?? `${slash(containerdUrl)}gpg`;
  const kubernetesKeyUrl = k.keyUrl ?? `${slash(kubernetesUrl)}Release.key`;
  // A bad Kubernetes aptUrl is reported above; the key URL made from it is not judged as well.
  const fromBadAptUrl = k.aptUrl !== undefined && usedProblem !== undefined && k.keyUrl === undefined;
  const kubernetesFingerprint = keyFingerprintOf("kubernetes", kubernetesKeyUrl, k.keyUrl !== undefined, k.keyFingerprint, fromBadAptUrl ? [] : problems);
  return {
    containerd: {
      url: containerdUrl,
      suite: c.suite,
      component: c.component ?? DEFAULTS.containerdComponent,
      keyUrl: containerdKeyUrl,
      keyFingerprint: keyFingerprintOf("containerd", containerdKeyUrl, c.keyUrl !== undefined, c.keyFingerprint, problems),
      package: c.package ?? DEFAULTS.containerdPackage,
    },
    kubernetes: { url: slash(kubernetesUrl), suite: "/", keyUrl: kubernetesKeyUrl, keyFingerprint: kubernetesFingerprint },
    imageRepository: s.imageRepository ?? DEFAULTS.imageRepository,
    registryMirrors: s.registryMirrors ?? {},
  };
}

/** Turns raw stack config into validated values, or throws one ConfigError listing every problem. */
export function parseLabConfig(raw: RawConfig, options: ParseOptions = {}): LabConfig {
  const problems: string[] = [];
  checkTopLevelKeys(raw.keys ?? [], problems);

  const clusterFields = fields(rawCluster, `${NS}:cluster`, raw.cluster, problems);
  const c = clusterFields?.value ?? {};
  const failed = (field: string) => clusterFields === undefined || clusterFields.failed.has(field);
  // Unknown when the cluster part or its provision flag is bad: checks that depend on it are skipped.
  const provision = failed("provision") ? undefined : (c.provision ?? true);
  const cluster: ClusterSpec = {
    provision: provision ?? true,
    kubernetesVersion: c.kubernetesVersion ?? DEFAULTS.kubernetesVersion,
    podCidr: c.podCidr ?? DEFAULTS.podCidr,
    serviceCidr: c.serviceCidr ?? DEFAULTS.serviceCidr,
    apiServerPort: c.apiServerPort ?? DEFAULTS.apiServerPort,
    kubeconfigPath: c.kubeconfigPath,
    context: c.context,
    reachabilityTimeoutSeconds: c.reachabilityTimeoutSeconds ?? DEFAULTS.reachabilityTimeoutSeconds,
    allowCgroupV1: c.allowCgroupV1 ?? false,
    ...(c.kubeProxyConntrackMaxPerCore !== undefined ? { kubeProxyConntrackMaxPerCore: c.kubeProxyConntrackMaxPerCore } : {}),
    cni: c.cni ?? "weave",
    insecureSkipHostKeyCheck: c.insecureSkipHostKeyCheck ?? false,
  };
  const hostKeyRequired = failed("insecureSkipHostKeyCheck") ? undefined : (options.requireHostKeys ?? true) && !cluster.insecureSkipHostKeyCheck;
  const nodes = parseNodes(raw.nodes, { provision, hostKeyRequired, stack: raw.stack }, problems);
  checkCidrs(
    { podCidr: failed("podCidr") ? undefined : cluster.podCidr, serviceCidr: failed("serviceCidr") ? undefined : cluster.serviceCidr },
    nodes,
    problems,
  );
  if (provision === true) {
    if (!raw.hasSshPrivateKey) {
      problems.push(
        `${NS}:sshPrivateKey: required when cluster.provision is true; ` +
          `set it with: pulumi config set --secret ${NS}:sshPrivateKey < ~/.ssh/id_ed25519 (or set ${NS}:sshPrivateKeyPath)`,
      );
    }
    for (const key of ["kubeconfigPath", "context"] as const) {
      if (cluster[key] !== undefined) problems.push(`${NS}:cluster.${key}: only used with cluster.provision: false`);
    }
  } else if (provision === false && !raw.hasKubeconfig && cluster.kubeconfigPath === undefined && !failed("kubeconfigPath")) {
    problems.push(`${NS}:cluster.kubeconfigPath: an existing cluster (provision: false) needs cluster.kubeconfigPath or the secret ${NS}:kubeconfig`);
  }
  if (provision === false && c.allowCgroupV1 !== undefined) {
    problems.push(`${NS}:cluster.allowCgroupV1: only used with cluster.provision: true (kubeadm on your machines)`);
  }
  if (provision === false && c.kubeProxyConntrackMaxPerCore !== undefined) {
    problems.push(`${NS}:cluster.kubeProxyConntrackMaxPerCore: only used with cluster.provision: true (kubeadm on your machines)`);
  }
  if (provision === false && c.insecureSkipHostKeyCheck !== undefined) {
    problems.push(`${NS}:cluster.insecureSkipHostKeyCheck: only used with cluster.provision: true (the program connects to no machine otherwise)`);
  }
  if (provision === false && c.cni !== undefined) {
    problems.push(`${NS}:cluster.cni: only used with cluster.provision: true (an existing cluster keeps its own pod network)`);
  }

  const istioFields = fields(rawIstio, `${NS}:istio`, raw.istio, problems);
  const i = istioFields?.value ?? {};
  const istio: IstioSpec = {
    install: i.install ?? true,
    version: i.version ?? DEFAULTS.istioVersion,
    chartRepository: i.chartRepository ?? DEFAULTS.istioCharts,
    hub: i.hub ?? DEFAULTS.istioHub,
    mtls: i.mtls ?? "STRICT",
    ingressNodePort: i.ingressNodePort ?? DEFAULTS.ingressNodePort,
    addons: Object.fromEntries(ADDONS.map((a) => [a, i.addons?.[a] ?? false])) as Record<AddonName, boolean>,
    ...(i.externalIstiod ? { externalIstiod: { webhookUrl: i.externalIstiod.webhookUrl.replace(/\/+$/, "") } } : {}),
  };
  if (i.install === false && i.externalIstiod !== undefined) {
    problems.push(`${NS}:istio.externalIstiod: sets how Istio's charts are installed; with istio.install: false remove it`);
  }
  if (i.install === false && ADDONS.some((a) => istio.addons[a])) {
    problems.push(`${NS}:istio.addons: addons are installed with Istio's charts; with istio.install: false turn them off`);
  }

  const bookinfoFields = fields(rawBookinfo, `${NS}:bookinfo`, raw.bookinfo, problems);
  const b = bookinfoFields?.value ?? {};
  const workloads = Object.entries(BOOKINFO_SERVICES).flatMap(([s, vs]) => vs.map((v) => `${s}-${v}`));
  const images: Record<string, string> = {};
  for (const [w, ref] of Object.entries(b.images ?? {})) {
    if (!workloads.includes(w)) problems.push(unknownKey(`${NS}:bookinfo.images`, w, workloads, "workload"));
    const r = check(image, `${NS}:bookinfo.images.${w}`, ref, problems);
    if (r.ok) images[w] = r.data;
  }
  const bookinfo: BookinfoSpec = {
    namespace: b.namespace ?? DEFAULTS.bookinfoNamespace,
    imageRegistry: b.imageRegistry ?? DEFAULTS.bookinfoRegistry,
    imageTag: b.imageTag ?? DEFAULTS.bookinfoTag,
    images,
    nodePort: b.nodePort === false ? null : (b.nodePort ?? DEFAULTS.bookinfoNodePort),
    replicas: b.replicas ?? 1,
    host: b.host,
  };
  const portsKnown = !bookinfoFields?.failed.has("nodePort") && !istioFields?.failed.has("ingressNodePort");
  if (portsKnown && bookinfo.nodePort !== null && bookinfo.nodePort === istio.ingressNodePort) {
    problems.push(`${NS}:bookinfo.nodePort: ${bookinfo.nodePort} is also istio.ingressNodePort; pick another`);
  }

  const w = fields(rawWeave, `${NS}:weave`, raw.weave, problems)?.value ?? {};
  const weaveVersion = w.version ?? DEFAULTS.weaveVersion;
  const weaveRegistry = w.registry ?? DEFAULTS.weaveRegistry;
  const weave: WeaveSpec = {
    version: weaveVersion,
    kubeImage: w.kubeImage ?? `${weaveRegistry}/weave-kube:${weaveVersion}`,
    npcImage: w.npcImage ?? `${weaveRegistry}/weave-npc:${weaveVersion}`,
  };

  const f = fields(rawFlannel, `${NS}:flannel`, raw.flannel, problems)?.value ?? {};
  const flannelVersion = f.version ?? DEFAULTS.flannelVersion;
  const flannelRegistry = f.registry ?? DEFAULTS.flannelRegistry;
  const flannel: FlannelSpec = {
    version: flannelVersion,
    image: f.image ?? `${flannelRegistry}/flannel:${flannelVersion}`,
    cniPluginImage: f.cniPluginImage ?? `${flannelRegistry}/flannel-cni-plugin:${f.cniPluginVersion ?? DEFAULTS.flannelCniPluginVersion}`,
    backend: f.backend ?? "vxlan",
  };
  // Settings of the CNI that is not chosen would do nothing: say so rather than ignore them.
  if (!failed("cni") && provision !== false) {
    const unused = cluster.cni === "weave" ? "flannel" : "weave";
    if (raw[unused] !== undefined) problems.push(`${NS}:${unused}: only used with cluster.cni: ${unused} (the cluster's CNI is ${cluster.cni}); remove it or set cluster.cni`);
  }

  const sources = parseSources(raw.sources, cluster.kubernetesVersion, problems);
  const traffic = parseTraffic(raw.traffic, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { sources, cluster, nodes, istio, bookinfo, weave, flannel, traffic };
}
