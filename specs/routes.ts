// Route building: validated traffic config in, Istio specs out. Pure functions, so each of the seed's
// scenarios is checked without a cluster or an engine. One DestinationRule and one VirtualService per
// service: a routing flip only ever touches that service's VirtualService.
import { RoutePolicy, ServiceTraffic, Strategy, TrafficSpec } from "../config/schema";
import { BOOKINFO_PORT, isServiceName, SERVICE_NAMES, versionsOf } from "./catalogue";
import { formatIstioDuration } from "./duration";
import {
  DestinationRule,
  Gateway,
  HTTPFaultInjection,
  HTTPRoute,
  HTTPRouteDestination,
  MtlsMode,
  PeerAuthentication,
  StringMatch,
  VirtualService,
} from "./istio";

/** Label on every object this program renders, so tests and users can select them. */
export const MANAGED_BY = { "app.kubernetes.io/managed-by": "kubeadm-istio-lab" };

/** The destinations of the default route: one version (blue-green) or a weighted pair (canary). */
export function splitOf(service: string, strategy: Strategy): HTTPRouteDestination[] {
  if (strategy.kind === "blueGreen") {
    return [{ destination: { host: service, subset: strategy.active } }];
  }
  // Both destinations stay listed at 0% and 100% so a flip is a weight change, never a new route.
  return [
    { destination: { host: service, subset: strategy.stable }, weight: 100 - strategy.weight },
    { destination: { host: service, subset: strategy.canary }, weight: strategy.weight },
  ];
}

function faultOf(policy: RoutePolicy): HTTPFaultInjection | undefined {
  const { delay, abort } = policy.fault ?? {};
  if (!delay && !abort) return undefined;
  const fault: HTTPFaultInjection = {};
  if (delay) fault.delay = { percentage: { value: delay.percent }, fixedDelay: formatIstioDuration(delay.fixedDelayMs) };
  if (abort) fault.abort = { percentage: { value: abort.percent }, httpStatus: abort.httpStatus };
  return fault;
}

/** Adds timeout, retries and fault to a route; a header route's own settings win over the service's. */
function withPolicy(route: HTTPRoute, own: RoutePolicy, inherited: RoutePolicy): HTTPRoute {
  const timeoutMs = own.timeoutMs ?? inherited.timeoutMs;
  const retries = own.retries ?? inherited.retries;
  const fault = faultOf(own.fault ? own : inherited);
  const out: HTTPRoute = { ...route };
  if (fault) out.fault = fault;
  if (timeoutMs !== undefined) out.timeout = formatIstioDuration(timeoutMs);
  if (retries) {
    out.retries = { attempts: retries.attempts };
    if (retries.perTryTimeoutMs !== undefined) out.retries.perTryTimeout = formatIstioDuration(retries.perTryTimeoutMs);
    if (retries.retryOn) out.retries.retryOn = retries.retryOn;
  }
  return out;
}

function stringMatch(kind: "exact" | "prefix" | "regex", value: string): StringMatch {
  if (kind === "exact") return { exact: value };
  if (kind === "prefix") return { prefix: value };
  return { regex: value };
}

/** HTTP routes in Istio's order of evaluation: header routes first, then the default route. */
export function buildHttpRoutes(service: string, traffic: ServiceTraffic): HTTPRoute[] {
  const headerRoutes = traffic.headerRoutes.map((h, i) =>
    withPolicy(
      {
        name: `header-${i}-${h.header}`,
        match: [{ headers: { [h.header]: stringMatch(h.kind, h.value) } }],
        route: [{ destination: { host: service, subset: h.version } }],
      },
      h.policy,
      traffic.policy,
    ),
  );
  const defaultRoute = withPolicy({ name: "default", route: splitOf(service, traffic.strategy) }, {}, traffic.policy);
  return [...headerRoutes, defaultRoute];
}

/** `service` is a Bookinfo service, or any host in the namespace (the benchmark's synthetic ones). */
export function buildVirtualService(service: string, traffic: ServiceTraffic, namespace: string): VirtualService {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: {
      name: service,
      namespace,
      labels: { ...MANAGED_BY },
      // The program owns these weights: after drift (a kubectl edit, a rollout tool) `up` takes them back.
      annotations: { "pulumi.com/patchForce": "true" },
    },
    spec: { hosts: [service], http: buildHttpRoutes(service, traffic) },
  };
}

export function buildDestinationRule(service: string, namespace: string, versions?: readonly string[]): DestinationRule {
  const subsets = versions ?? (isServiceName(service) ? versionsOf(service) : undefined);
  if (!subsets) throw new Error(`no versions known for service ${service}`);
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: service, namespace, labels: { ...MANAGED_BY } },
    spec: {
      host: service,
      subsets: subsets.map((v) => ({ name: v, labels: { version: v } })),
    },
  };
}

/** Every service's DestinationRule and VirtualService, in catalogue order. */
export function buildTrafficObjects(traffic: TrafficSpec, namespace: string): {
  destinationRules: DestinationRule[];
  virtualServices: VirtualService[];
} {
  return {
    destinationRules: SERVICE_NAMES.map((s) => buildDestinationRule(s, namespace)),
    virtualServices: SERVICE_NAMES.map((s) => buildVirtualService(s, traffic[s], namespace)),
  };
}

export const INGRESS_SELECTOR = { istio: "ingressgateway" };

/** The Istio Gateway on the ingress gateway's port 80 that exposes Bookinfo. */
export function buildGateway(namespace: string): Gateway {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "bookinfo-gateway", namespace, labels: { ...MANAGED_BY } },
    spec: {
      selector: { ...INGRESS_SELECTOR },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
    },
  };
}

/**
 * Productpage's routes at the ingress gateway. Gateway traffic does not pass through productpage's
 * mesh VirtualService, so its split (and timeout, retries, fault) is repeated here; without the
 * subsets the mesh routing would not apply to browsers (istioctl analyze IST0140).
 */
export function buildIngressRoutes(namespace: string, productpage: ServiceTraffic): VirtualService {
  const split = splitOf("productpage", productpage.strategy).map((d) => ({
    ...d,
    destination: { ...d.destination, port: { number: BOOKINFO_PORT } },
  }));
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "bookinfo", namespace, labels: { ...MANAGED_BY }, annotations: { "pulumi.com/patchForce": "true" } },
    spec: {
      hosts: ["*"],
      gateways: ["bookinfo-gateway"],
      http: [
        withPolicy(
          {
            name: "productpage",
            match: [
              { uri: { exact: "/productpage" } },
              { uri: { prefix: "/static" } },
              { uri: { exact: "/login" } },
              { uri: { exact: "/logout" } },
              { uri: { prefix: "/api/v1/products" } },
            ],
            route: split,
          },
          {},
          productpage.policy,
        ),
      ],
    },
  };
}

/** Mesh-wide mTLS: a PeerAuthentication named "default" in Istio's root namespace, with no selector. */
export function buildMeshPeerAuthentication(mode: MtlsMode, rootNamespace = "istio-system"): PeerAuthentication {
  return {
    apiVersion: "security.istio.io/v1",
    kind: "PeerAuthentication",
    metadata: { name: "default", namespace: rootNamespace, labels: { ...MANAGED_BY } },
    spec: { mtls: { mode } },
  };
}

// ---------------------------------------------------------------------------------------------
// Summary: what a reviewer reads, one line per service ("reviews: v1 90%, v2 10%; timeout 0.5s").

function describePolicy(policy: RoutePolicy): string[] {
  const parts: string[] = [];
  if (policy.timeoutMs !== undefined) parts.push(`timeout ${formatIstioDuration(policy.timeoutMs)}`);
  if (policy.retries) {
    const r = policy.retries;
    const per = r.perTryTimeoutMs === undefined ? "" : ` of ${formatIstioDuration(r.perTryTimeoutMs)}`;
    parts.push(`retries ${r.attempts}${per}${r.retryOn ? ` on ${r.retryOn}` : ""}`);
  }
  const { delay, abort } = policy.fault ?? {};
  if (delay) parts.push(`delay ${formatIstioDuration(delay.fixedDelayMs)} on ${delay.percent}%`);
  if (abort) parts.push(`abort ${abort.httpStatus} on ${abort.percent}%`);
  return parts;
}

export function summarizeService(service: string, traffic: ServiceTraffic): string {
  const split = splitOf(service, traffic.strategy)
    .map((d) => `${d.destination.subset} ${d.weight ?? 100}%`)
    .join(", ");
  const parts = [split, ...describePolicy(traffic.policy)];
  for (const h of traffic.headerRoutes) {
    const op = h.kind === "exact" ? "=" : h.kind === "prefix" ? "^=" : "~";
    const own = describePolicy(h.policy);
    parts.push(`${h.header} ${op} ${JSON.stringify(h.value)} → ${h.version}${own.length ? ` (${own.join(", ")})` : ""}`);
  }
  return `${service}: ${parts.join("; ")}`;
}

export function summarizeTraffic(traffic: TrafficSpec): string[] {
  return SERVICE_NAMES.map((s) => summarizeService(s, traffic[s]));
}
