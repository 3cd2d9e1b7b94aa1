// Istio's Helm releases and the optional addons, as plain data: chart, version, namespace, values.
// Istio 1.1's Pilot, Citadel and Galley are one istiod today, and Mixer is gone: three charts cover it.
import type { AddonName, IstioSpec } from "../config/schema";

export interface ChartRelease {
  /** Release name, also the Pulumi resource name. */
  name: string;
  chart: string;
  version: string;
  repository: string;
  namespace: string;
  values: Record<string, unknown>;
}

export const ISTIO_NAMESPACE = "istio-system";
export const INGRESS_NAMESPACE = "istio-ingress";

/** base (CRDs, cluster roles), istiod, and the ingress gateway, in install order. */
export function istioReleases(cfg: IstioSpec): { base: ChartRelease; istiod: ChartRelease; gateway: ChartRelease } {
  const common = { version: cfg.version, repository: cfg.chartRepository };
  const external = cfg.externalIstiod;
  return {
    base: {
      name: "istio-base",
      chart: "base",
      namespace: ISTIO_NAMESPACE,
      // istiod owns the validating webhook's failurePolicy after install; base must not fight it.
      values: {
        defaultRevision: "default",
        // The API server calls an istiod outside the cluster at this URL instead of the istiod Service.
        ...(external ? { base: { validationURL: `${external.webhookUrl}/validate` } } : {}),
      },
      ...common,
    },
    istiod: {
      name: "istiod",
      chart: "istiod",
      namespace: ISTIO_NAMESPACE,
      values: {
        // External control plane: no istiod Deployment or Service here, only what the cluster holds
        // for it (injection webhook to its URL, injector template and mesh ConfigMaps it reads).
        // Set one by one rather than `profile: remote`, which also omits the injector ConfigMap, and a
        // false written over the profile's true is lost in the charts' value merge.
        ...(external ? { istiodRemote: { enabled: true, injectionURL: `${external.webhookUrl}/inject` } } : {}),
        meshConfig: { accessLogFile: "/dev/stdout" },
        pilot: { resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } } },
        global: {
          // Where pilot and the sidecar/gateway proxy images come from (a mirror for offline installs).
          hub: cfg.hub,
          proxy: { resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } } },
        },
      },
      ...common,
    },
    gateway: {
      // The chart labels its pods `istio: <name without "istio-">`, i.e. istio: ingressgateway.
      name: "istio-ingressgateway",
      chart: "gateway",
      namespace: INGRESS_NAMESPACE,
      values: {
        service: {
          // kubeadm on bare machines has no load balancer: reach the gateway on a fixed NodePort.
          type: "NodePort",
          ports: [
            { name: "status-port", port: 15021, protocol: "TCP", targetPort: 15021 },
            { name: "http2", port: 80, protocol: "TCP", targetPort: 80, nodePort: cfg.ingressNodePort },
            { name: "https", port: 443, protocol: "TCP", targetPort: 443 },
          ],
        },
        resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "1", memory: "512Mi" } },
      },
      ...common,
    },
  };
}

/** Monitoring addons (the seed's future work), each from its project's own chart, versions pinned. */
const ADDON_CHARTS: Record<AddonName, Omit<ChartRelease, "namespace">> = {
  prometheus: {
    name: "prometheus",
    chart: "prometheus",
    version: "25.27.0",
    repository: "https://prometheus-community.github.io/helm-charts",
    values: { alertmanager: { enabled: false }, "prometheus-pushgateway": { enabled: false } },
  },
  grafana: {
    name: "grafana",
    chart: "grafana",
    version: "8.5.1",
    repository: "https://grafana.github.io/helm-charts",
    values: {},
  },
  kiali: {
    name: "kiali",
    chart: "kiali-server",
    version: "2.0.0",
    repository: "https://kiali.org/helm-charts",
    values: { auth: { strategy: "anonymous" }, external_services: { prometheus: { url: "http://prometheus-server.istio-system" } } },
  },
  jaeger: {
    name: "jaeger",
    chart: "jaeger",
    version: "3.3.1",
    repository: "https://jaegertracing.github.io/helm-charts",
    values: { allInOne: { enabled: true }, provisionDataStore: { cassandra: false }, storage: { type: "memory" }, agent: { enabled: false }, collector: { enabled: false }, query: { enabled: false } },
  },
};

export function addonReleases(cfg: IstioSpec): ChartRelease[] {
  return (Object.keys(ADDON_CHARTS) as AddonName[])
    .filter((name) => cfg.addons[name])
    .map((name) => ({ ...ADDON_CHARTS[name], namespace: ISTIO_NAMESPACE }));
}
