// The subset of Istio's v1 API (networking.istio.io/v1, security.istio.io/v1) this program writes.
// Field names and shapes follow Istio's reference so the objects serialise exactly as kubectl would see them.

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** An Istio custom resource as sent to the API server. */
export interface IstioObject<Kind extends string, Spec> {
  apiVersion: "networking.istio.io/v1" | "security.istio.io/v1";
  kind: Kind;
  metadata: ObjectMeta;
  spec: Spec;
}

export type StringMatch = { exact: string } | { prefix: string } | { regex: string };

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  headers?: Record<string, StringMatch>;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: { number: number };
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
}

export interface Percent {
  value: number;
}

export interface HTTPFaultInjection {
  delay?: { percentage: Percent; fixedDelay: string };
  abort?: { percentage: Percent; httpStatus: number };
}

export interface HTTPRetry {
  attempts: number;
  perTryTimeout?: string;
  retryOn?: string;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route: HTTPRouteDestination[];
  timeout?: string;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
}

export interface VirtualServiceSpec {
  hosts: string[];
  gateways?: string[];
  http: HTTPRoute[];
}

export interface Subset {
  name: string;
  labels: Record<string, string>;
}

export interface DestinationRuleSpec {
  host: string;
  subsets: Subset[];
  trafficPolicy?: { tls?: { mode: "ISTIO_MUTUAL" | "DISABLE" } };
}

export interface GatewaySpec {
  selector: Record<string, string>;
  servers: { port: { number: number; name: string; protocol: "HTTP" | "HTTPS" }; hosts: string[] }[];
}

export type MtlsMode = "STRICT" | "PERMISSIVE" | "DISABLE";

export interface PeerAuthenticationSpec {
  mtls: { mode: MtlsMode };
}

export type VirtualService = IstioObject<"VirtualService", VirtualServiceSpec>;
export type DestinationRule = IstioObject<"DestinationRule", DestinationRuleSpec>;
export type Gateway = IstioObject<"Gateway", GatewaySpec>;
export type PeerAuthentication = IstioObject<"PeerAuthentication", PeerAuthenticationSpec>;
