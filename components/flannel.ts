import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import {
  FLANNEL_CONFIG_MAP,
  FLANNEL_NAME,
  FLANNEL_NAMESPACE,
  FlannelParams,
  flannelClusterRules,
  flannelCniConf,
  flannelDaemonSetSpec,
  flannelNetConf,
} from "../specs/flannel";

export interface FlannelArgs {
  /** Images and backend. */
  flannel: FlannelParams;
  /** The cluster's pod CIDR: flannel's Network, split into one subnet per node. */
  podCidr: string;
  /** Resources that must exist first (component dependsOn does not reach children). */
  after?: pulumi.Resource[];
}

/** The flannel CNI: its namespace, RBAC, network config and DaemonSet as typed resources. */
export class Flannel extends pulumi.ComponentResource {
  readonly daemonSet: k8s.apps.v1.DaemonSet;

  constructor(name: string, args: FlannelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:network:Flannel", name, {}, opts);
    const child = { parent: this };
    const labels = { app: FLANNEL_NAME, tier: "node" };
    // flanneld needs host networking and NET_ADMIN: its namespace is exempt from Pod Security's limits.
    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: FLANNEL_NAMESPACE, labels: { ...labels, "pod-security.kubernetes.io/enforce": "privileged" } } },
      { ...child, dependsOn: args.after ?? [] },
    );
    const metadata = { name: FLANNEL_NAME, namespace: namespace.metadata.name, labels };
    const account = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata }, child);
    const role = new k8s.rbac.v1.ClusterRole(`${name}-cluster-role`, { metadata: { name: FLANNEL_NAME, labels }, rules: flannelClusterRules }, child);
    const binding = new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-cluster-role-binding`,
      {
        metadata: { name: FLANNEL_NAME, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: FLANNEL_NAME, namespace: FLANNEL_NAMESPACE }],
      },
      child,
    );
    const config = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      {
        metadata: { ...metadata, name: FLANNEL_CONFIG_MAP },
        data: { "cni-conf.json": flannelCniConf(), "net-conf.json": flannelNetConf(args.podCidr, args.flannel.backend) },
      },
      child,
    );
    this.daemonSet = new k8s.apps.v1.DaemonSet(
      `${name}-daemonset`,
      { metadata: { ...metadata, name: "kube-flannel-ds" }, spec: flannelDaemonSetSpec(args.flannel) },
      { parent: this, dependsOn: [account, binding, config] },
    );
    this.registerOutputs({});
  }
}
