import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { TrafficSpec } from "../config/schema";
import { SERVICE_NAMES } from "../specs/catalogue";
import { buildDestinationRule, buildVirtualService, summarizeTraffic } from "../specs/routes";
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
 * VirtualService (its routes). A routing flip changes one VirtualService and nothing else.
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
    this.summary = summarizeTraffic(args.traffic);
    this.registerOutputs({ summary: this.summary });
  }
}
