// Bookinfo's workloads as plain Kubernetes specs: one ServiceAccount and Service per service, one
// Deployment per version. Istio's routing selects pods by the `app` and `version` labels set here.
import type * as k8s from "@pulumi/kubernetes";
import type { BookinfoSpec } from "../config/schema";
import { hostPort } from "./scripts";
import { BOOKINFO_PORT, BOOKINFO_SERVICES, ServiceName } from "./catalogue";
import { MANAGED_BY } from "./routes";

type DeploymentSpec = k8s.types.input.apps.v1.DeploymentSpec;
type ServiceSpec = k8s.types.input.core.v1.ServiceSpec;

export interface Workload {
  service: ServiceName;
  version: string;
  /** Deployment name, e.g. "reviews-v2". */
  name: string;
  image: string;
}

export function workloads(cfg: BookinfoSpec): Workload[] {
  return (Object.keys(BOOKINFO_SERVICES) as ServiceName[]).flatMap((service) =>
    BOOKINFO_SERVICES[service].map((version) => {
      const name = `${service}-${version}`;
      const image = cfg.images[name] ?? `${cfg.imageRegistry}/examples-bookinfo-${service}-${version}:${cfg.imageTag}`;
      return { service, version, name, image };
    }),
  );
}

export function serviceAccountName(service: ServiceName): string {
  return `bookinfo-${service}`;
}

export function labelsOf(service: ServiceName, version?: string): Record<string, string> {
  return version ? { app: service, version } : { app: service };
}

export function serviceSpec(service: ServiceName, nodePort: number | null): ServiceSpec {
  const port = { name: "http", port: BOOKINFO_PORT, targetPort: BOOKINFO_PORT };
  // The seed reaches productpage through a NodePort; every other service stays inside the cluster.
  if (service === "productpage" && nodePort !== null) {
    return { type: "NodePort", selector: labelsOf(service), ports: [{ ...port, nodePort }] };
  }
  return { type: "ClusterIP", selector: labelsOf(service), ports: [port] };
}

export function deploymentSpec(w: Workload, replicas: number): DeploymentSpec {
  // reviews runs on Open Liberty, which writes to these folders; the others need no volumes.
  const writable = w.service === "reviews";
  return {
    replicas,
    selector: { matchLabels: labelsOf(w.service, w.version) },
    template: {
      metadata: { labels: { ...labelsOf(w.service, w.version), ...MANAGED_BY } },
      spec: {
        serviceAccountName: serviceAccountName(w.service),
        containers: [
          {
            name: w.service,
            image: w.image,
            imagePullPolicy: "IfNotPresent",
            ports: [{ containerPort: BOOKINFO_PORT, name: "http" }],
            resources: {
              requests: { cpu: "50m", memory: writable ? "256Mi" : "64Mi" },
              limits: { cpu: "500m", memory: writable ? "512Mi" : "256Mi" },
            },
            securityContext: { runAsUser: 1000, allowPrivilegeEscalation: false },
            ...(writable
              ? {
                  env: [{ name: "LOG_DIR", value: "/tmp/logs" }],
                  volumeMounts: [
                    { name: "tmp", mountPath: "/tmp" },
                    { name: "wlp-output", mountPath: "/opt/ibm/wlp/output" },
                  ],
                }
              : {}),
          },
        ],
        ...(writable
          ? { volumes: [{ name: "tmp", emptyDir: {} }, { name: "wlp-output", emptyDir: {} }] }
          : {}),
      },
    },
  };
}

/** The URL of productpage, through the ingress gateway's NodePort and (if any) productpage's own. */
export function productpageUrls(host: string, ingressNodePort: number, nodePort: number | null): {
  ingress: string;
  nodePort?: string;
} {
  return {
    ingress: `http://${hostPort(host, ingressNodePort)}/productpage`,
    ...(nodePort === null ? {} : { nodePort: `http://${hostPort(host, nodePort)}/productpage` }),
  };
}
