// Resources shaped the way the program registers them, modelled on Istio's Bookinfo samples.
import { TYPES } from "../../policies/lib/types";
import { ResourceView } from "../../policies/lib/types";
import { TestResource } from "./harness";

export const NS = "bookinfo";

export function view(r: TestResource): ResourceView {
  return { type: r.type, name: r.name ?? "r", urn: `urn:${r.name ?? "r"}`, props: r.props, additionalSecretOutputs: r.additionalSecretOutputs ?? [] };
}

export interface Dest {
  host: string;
  subset?: string;
  weight?: unknown;
}

export function httpRoute(dests: Dest[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    route: dests.map((d) => ({
      destination: { host: d.host, ...(d.subset !== undefined ? { subset: d.subset } : {}) },
      ...(d.weight !== undefined ? { weight: d.weight } : {}),
    })),
  };
}

export function virtualService(name: string, http: Record<string, unknown>[], spec: Record<string, unknown> = {}, namespace = NS): TestResource {
  return {
    type: TYPES.virtualService,
    name,
    props: {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name, namespace },
      spec: { hosts: [name], http, ...spec },
    },
  };
}

/** reviews v1/v2/v3 canary, as in the seed's 90/10 step. */
export function reviewsCanary(v1: unknown, v2: unknown, routeName = "reviews-canary"): TestResource {
  return virtualService("reviews", [
    httpRoute(
      [
        { host: "reviews", subset: "v1", weight: v1 },
        { host: "reviews", subset: "v2", weight: v2 },
      ],
      { name: routeName },
    ),
  ]);
}

export function destinationRule(host: string, subsets: string[], namespace = NS, name = host): TestResource {
  return {
    type: TYPES.destinationRule,
    name: `${name}-dr`,
    props: {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name, namespace },
      spec: { host, subsets: subsets.map((s) => ({ name: s, labels: { version: s } })) },
    },
  };
}

export function gateway(name: string, namespace = NS): TestResource {
  return {
    type: TYPES.gateway,
    name,
    props: {
      metadata: { name, namespace },
      spec: { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] },
    },
  };
}

export function peerAuthentication(mode: string | undefined, namespace = "istio-system", selector?: Record<string, unknown>): TestResource {
  return {
    type: TYPES.peerAuthentication,
    name: `pa-${namespace}`,
    props: {
      apiVersion: "security.istio.io/v1",
      kind: "PeerAuthentication",
      metadata: { name: "default", namespace },
      spec: { ...(mode !== undefined ? { mtls: { mode } } : {}), ...(selector ? { selector } : {}) },
    },
  };
}

export const GOOD_RESOURCES = { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } };

/** `resources: null` leaves the field out. */
export function container(name: string, image: string, resources: unknown = GOOD_RESOURCES): Record<string, unknown> {
  return { name, image, ...(resources !== null ? { resources } : {}) };
}

export function deployment(
  name: string,
  containers: Record<string, unknown>[],
  opts: { namespace?: string; initContainers?: Record<string, unknown>[]; templateMeta?: Record<string, unknown> } = {},
): TestResource {
  return {
    type: TYPES.deployment,
    name,
    props: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, ...(opts.namespace !== undefined ? { namespace: opts.namespace } : { namespace: NS }) },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name }, ...(opts.templateMeta ?? {}) },
          spec: { containers, ...(opts.initContainers ? { initContainers: opts.initContainers } : {}) },
        },
      },
    },
  };
}

export function namespace(name: string, labels: Record<string, string> = {}): TestResource {
  return { type: TYPES.namespace, name: `ns-${name}`, props: { metadata: { name, labels } } };
}

export function service(name: string, type: string, labels: Record<string, string> = {}): TestResource {
  return {
    type: TYPES.service,
    name,
    props: { metadata: { name, namespace: NS, labels }, spec: { type, selector: { app: name }, ports: [{ port: 9080, name: "http" }] } },
  };
}

export function helmRelease(name: string, chart: string, version?: string): TestResource {
  return {
    type: TYPES.helmReleaseV3,
    name,
    props: {
      chart,
      ...(version !== undefined ? { version } : {}),
      namespace: "istio-system",
      repositoryOpts: { repo: "https://istio-release.storage.googleapis.com/charts" },
      values: {},
    },
  };
}

/** A small but complete lab stack that every rule accepts. */
export function goodStack(): TestResource[] {
  return [
    namespace(NS, { "istio-injection": "enabled" }),
    peerAuthentication("STRICT"),
    gateway("bookinfo-gateway"),
    virtualService("bookinfo", [httpRoute([{ host: "productpage", weight: undefined }], { name: "productpage" })], {
      hosts: ["*"],
      gateways: ["bookinfo-gateway"],
    }),
    reviewsCanary(90, 10),
    virtualService("ratings", [httpRoute([{ host: "ratings", subset: "v1" }], { name: "ratings" })]),
    destinationRule("reviews", ["v1", "v2", "v3"]),
    destinationRule("ratings", ["v1"]),
    deployment("productpage-v1", [container("productpage", "docker.io/istio/examples-bookinfo-productpage-v1:1.20.3")]),
    deployment("reviews-v2", [container("reviews", "docker.io/istio/examples-bookinfo-reviews-v2:1.20.3")]),
    service("productpage", "ClusterIP"),
    helmRelease("istio-base", "base", "1.27.3"),
    helmRelease("istiod", "istiod", "1.27.3"),
  ];
}
