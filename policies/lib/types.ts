// The shapes rules work on: plain data, independent of the CrossGuard SDK.
import { rec, str } from "./plain";

/** One resource as a rule sees it. */
export interface ResourceView {
  /** Pulumi type token, e.g. "kubernetes:apps/v1:Deployment". */
  type: string;
  /** Pulumi resource name (the logical name in the program). */
  name: string;
  urn?: string;
  /** Inputs (validateResource) or outputs (validateStack), as plain data. */
  props: Record<string, unknown>;
  /** Resource options the engine reports; only additionalSecretOutputs is used. */
  additionalSecretOutputs?: string[];
}

export interface Violation {
  message: string;
  /** Set by stack rules so the engine attaches the violation to that resource. */
  urn?: string;
  /** Only ever lowers the configured level (e.g. PERMISSIVE mTLS on purpose). */
  level?: "advisory";
}

export const TYPES = {
  virtualService: "kubernetes:networking.istio.io/v1:VirtualService",
  destinationRule: "kubernetes:networking.istio.io/v1:DestinationRule",
  gateway: "kubernetes:networking.istio.io/v1:Gateway",
  peerAuthentication: "kubernetes:security.istio.io/v1:PeerAuthentication",
  deployment: "kubernetes:apps/v1:Deployment",
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  daemonSet: "kubernetes:apps/v1:DaemonSet",
  replicaSet: "kubernetes:apps/v1:ReplicaSet",
  job: "kubernetes:batch/v1:Job",
  cronJob: "kubernetes:batch/v1:CronJob",
  pod: "kubernetes:core/v1:Pod",
  service: "kubernetes:core/v1:Service",
  namespace: "kubernetes:core/v1:Namespace",
  namespacePatch: "kubernetes:core/v1:NamespacePatch",
  helmReleaseV3: "kubernetes:helm.sh/v3:Release",
  helmChartV4: "kubernetes:helm.sh/v4:Chart",
  k8sProvider: "pulumi:providers:kubernetes",
  remoteCommand: "command:remote:Command",
  localCommand: "command:local:Command",
  randomString: "random:index/randomString:RandomString",
} as const;

/** Resource name plus kind, for messages: "VirtualService bookinfo/reviews". */
export function describe(r: ResourceView): string {
  const kind = r.type.split(":").pop() ?? r.type;
  const meta = rec(r.props["metadata"]);
  const name = str(meta?.["name"]) ?? r.name;
  const ns = str(meta?.["namespace"]);
  return ns ? `${kind} ${ns}/${name}` : `${kind} ${name}`;
}
