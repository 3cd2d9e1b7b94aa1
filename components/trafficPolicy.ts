import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { TrafficSpec } from "../config/schema";
import { SERVICE_NAMES } from "../specs/catalogue";
import { buildDestinationRule, buildIngressRoutes, buildVirtualService, summarizeTraffic } from "../specs/routes";
import { istioResource } from "./istioResource";

export interface TrafficPolicyArgs {
  /** Validated routing per Bookinfo service (blue-green, canary, header routes, faults, timeouts). */
  traffic: TrafficSpec;
  /** Namespace of the Bookinfo services. */
  namespace: string;
  /** Resources that must exist first (component dependsOn does not reach children). */
  after?: pulumi.Resource[];
}

/**
 * Routing from stack config: per service one DestinationRule (its version subsets) and one
 * VirtualService (its routes), plus productpage's routes at the ingress gateway. A routing flip changes
 * that service's VirtualService and nothing else (for productpage, also its ingress routes).
 */
export class TrafficPolicy extends pulumi.ComponentResource {
  readonly destinationRules: k8s.apiextensions.CustomResource[] = [];
  readonly virtualServices: k8s.apiextensions.CustomResource[] = [];
  /** One line per service, e.g. "reviews: v1 90%, v2 10%". */
  readonly summary: string[];

  constructor(name: string, args: TrafficPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:traffic:TrafficPolicy", name, {}, opts);
    for (const service of SERVICE_NAMES) {
      const rule = istioResource(`${name}-${service}-subsets`, buildDestinationRule(service, args.namespace), {
        parent: this,
        dependsOn: args.after ?? [],
      });
      // Subsets first, then the routes that name them: Istio answers 503 for a subset it does not know.
      const routes = istioResource(
        `${name}-${service}-routes`,
        buildVirtualService(service, args.traffic[service], args.namespace),
        { parent: this, dependsOn: [rule] },
      );
      this.destinationRules.push(rule);
      this.virtualServices.push(routes);
    }
    // Browsers come in through the ingress gateway, which needs productpage's split of its own.
    this.virtualServices.push(
      istioResource(`${name}-ingress-routes`, buildIngressRoutes(args.namespace, args.traffic.productpage), {
        parent: this,
        dependsOn: [...(args.after ?? []), ...this.destinationRules],
      }),
    );
    this.summary = summarizeTraffic(args.traffic);
    this.registerOutputs({ summary: this.summary });
  }
}
