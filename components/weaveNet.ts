import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import type { WeaveSpec } from "../config/schema";
import {
  WEAVE_NAME,
  WEAVE_NAMESPACE,
  WEAVE_PASSWORD_KEY,
  WEAVE_PASSWORD_LENGTH,
  WEAVE_PASSWORD_SECRET,
  weaveClusterRules,
  weaveDaemonSetSpec,
  weaveNamespaceRules,
} from "../specs/weave";

export interface WeaveNetArgs {
  /** Images and version of Weave Net. */
  weave: WeaveSpec;
  /** The cluster's pod CIDR; Weave allocates pod addresses from it. */
  podCidr: string;
  /** Resources that must exist first (component dependsOn does not reach children). */
  after?: pulumi.Resource[];
}

/** The Weave Net CNI: its RBAC, its password as a Secret, and its DaemonSet as typed resources. */
export class WeaveNet extends pulumi.ComponentResource {
  readonly daemonSet: k8s.apps.v1.DaemonSet;

  constructor(name: string, args: WeaveNetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:network:WeaveNet", name, {}, opts);
    const child = { parent: this };
    const metadata = { name: WEAVE_NAME, namespace: WEAVE_NAMESPACE, labels: { name: WEAVE_NAME } };
    const subjects = [{ kind: "ServiceAccount", name: WEAVE_NAME, namespace: WEAVE_NAMESPACE }];

    const account = new k8s.core.v1.ServiceAccount(`${name}-sa`, { metadata }, { ...child, dependsOn: args.after ?? [] });
    const clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-cluster-role`,
      { metadata: { name: WEAVE_NAME, labels: metadata.labels }, rules: weaveClusterRules },
      child,
    );
    const clusterBinding = new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-cluster-role-binding`,
      {
        metadata: { name: WEAVE_NAME, labels: metadata.labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole.metadata.name },
        subjects,
      },
      child,
    );
    // The overlay's password: a Pulumi secret in the state, a Kubernetes Secret in the cluster.
    const password = new random.RandomPassword(`${name}-password`, { length: WEAVE_PASSWORD_LENGTH, special: false }, child);
    const passwordSecret = new k8s.core.v1.Secret(
      `${name}-password-secret`,
      {
        metadata: { name: WEAVE_PASSWORD_SECRET, namespace: WEAVE_NAMESPACE, labels: metadata.labels },
        type: "Opaque",
        data: { [WEAVE_PASSWORD_KEY]: pulumi.secret(password.result.apply((p) => Buffer.from(p, "utf8").toString("base64"))) },
      },
      { ...child, dependsOn: args.after ?? [] },
    );
    const role = new k8s.rbac.v1.Role(`${name}-role`, { metadata, rules: weaveNamespaceRules }, child);
    const binding = new k8s.rbac.v1.RoleBinding(
      `${name}-role-binding`,
      { metadata, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name }, subjects },
      child,
    );
    this.daemonSet = new k8s.apps.v1.DaemonSet(
      `${name}-daemonset`,
      { metadata, spec: weaveDaemonSetSpec(args.weave, args.podCidr, { name: passwordSecret.metadata.name, key: WEAVE_PASSWORD_KEY }) },
      { parent: this, dependsOn: [account, clusterBinding, binding, passwordSecret] },
    );
    this.registerOutputs({});
  }
}
