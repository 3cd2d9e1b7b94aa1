// Rule: production stacks reach workloads only through the Istio ingress gateway.
import { at, isUnknown } from "../lib/plain";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";
import { ProductionOptions } from "./faults";

export const NO_EXTERNAL_SERVICES_IN_PRODUCTION = "no-nodeport-or-loadbalancer-in-production";

const EXPOSED_TYPES = ["NodePort", "LoadBalancer"];

/** The ingress gateway is the one Service meant to be reachable from outside. */
function isIngressGateway(r: ResourceView): boolean {
  for (const path of [["metadata", "labels"], ["spec", "selector"]]) {
    if (at(r.props, ...path, "istio") === "ingressgateway" || at(r.props, ...path, "app") === "istio-ingressgateway") {
      return true;
    }
  }
  return false;
}

export function checkNoExternalServices(r: ResourceView, opts: ProductionOptions): Violation[] {
  if (r.type !== TYPES.service || !opts.production) {
    return [];
  }
  const type = at(r.props, "spec", "type");
  if (isUnknown(type) || typeof type !== "string" || !EXPOSED_TYPES.includes(type) || isIngressGateway(r)) {
    return [];
  }
  return [
    {
      message:
        `${describe(r)} is of type ${type} on a production stack; traffic that enters there bypasses the ingress ` +
        `gateway's routing, TLS and policies. Use ClusterIP and expose it through the Istio Gateway.`,
    },
  ];
}
