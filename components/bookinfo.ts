import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { BookinfoSpec } from "../config/schema";
import { SERVICE_NAMES } from "../specs/catalogue";
import { deploymentSpec, labelsOf, serviceAccountName, serviceSpec, workloads } from "../specs/bookinfo";
import { buildGateway, MANAGED_BY } from "../specs/routes";
import { istioResource } from "./istioResource";

export interface BookinfoArgs {
  /** Namespace, images, replicas and the productpage NodePort. */
  bookinfo: BookinfoSpec;
  /** Resources that must exist first (component dependsOn does not reach children). */
  after?: pulumi.Resource[];
}

/**
 * Istio's Bookinfo: a namespace with sidecar injection on, and for each service its ServiceAccount,
 * Service and one Deployment per version; productpage exposed by NodePort (as in the seed) and through
 * the Istio ingress gateway.
 */
export class Bookinfo extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly deployments: k8s.apps.v1.Deployment[];
  /** The Istio Gateway that productpage's ingress routes bind to. */
  readonly gateway: k8s.apiextensions.CustomResource;

  constructor(name: string, args: BookinfoArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:app:Bookinfo", name, {}, opts);
    const cfg = args.bookinfo;

    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: cfg.namespace, labels: { "istio-injection": "enabled", ...MANAGED_BY } } },
      { parent: this, dependsOn: args.after ?? [] },
    );
    this.namespace = ns.metadata.name;
    const inNamespace = { parent: this, dependsOn: [ns] };
    const meta = (objectName: string, labels: Record<string, string>) => ({
      name: objectName,
      namespace: this.namespace,
      labels: { ...labels, ...MANAGED_BY },
    });

    const accounts = new Map(
      SERVICE_NAMES.map((service) => [
        service,
        new k8s.core.v1.ServiceAccount(
          `${name}-${service}-sa`,
          { metadata: meta(serviceAccountName(service), { account: service }) },
          inNamespace,
        ),
      ]),
    );
    for (const service of SERVICE_NAMES) {
      new k8s.core.v1.Service(
        `${name}-${service}`,
        { metadata: meta(service, { ...labelsOf(service), service }), spec: serviceSpec(service, cfg.nodePort) },
        inNamespace,
      );
    }
    this.deployments = workloads(cfg).map(
      (w) =>
        new k8s.apps.v1.Deployment(
          `${name}-${w.name}`,
          { metadata: meta(w.name, labelsOf(w.service, w.version)), spec: deploymentSpec(w, cfg.replicas) },
          { parent: this, dependsOn: [ns, accounts.get(w.service) ?? ns] },
        ),
    );

    this.gateway = istioResource(`${name}-gateway`, buildGateway(cfg.namespace), inNamespace);
    this.registerOutputs({ namespace: this.namespace });
  }
}
