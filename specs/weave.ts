// Weave Net, defined here rather than fetched: its old manifest service (cloud.weave.works) is gone and
// the project is archived. Same objects as the v2.8 release: RBAC for the router and the network policy
// controller, and one DaemonSet with an init container that installs the CNI plugin on each host.
// IPALLOC_RANGE is the cluster's pod CIDR (the seed never set it; Weave's default 10.32.0.0/12 would not
// match kubeadm's --pod-network-cidr). WEAVE_PASSWORD, from a Secret, authenticates and encrypts the
// overlay between the nodes; without it any host that reaches port 6783 can join the pod network.
import type * as k8s from "@pulumi/kubernetes";
import type { WeaveSpec } from "../config/schema";
import { everyNode, hostPath } from "./cni";

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;
type DaemonSetSpec = k8s.types.input.apps.v1.DaemonSetSpec;
type SecretKeySelector = k8s.types.input.core.v1.SecretKeySelector;

export const WEAVE_NAME = "weave-net";
export const WEAVE_NAMESPACE = "kube-system";
/** The Secret holding Weave's password, and its key: the names Weave's own docs use. */
export const WEAVE_PASSWORD_SECRET = "weave-passwd";
export const WEAVE_PASSWORD_KEY = "weave-passwd";
/** Characters of the password (62 kinds each: about 285 bits). */
export const WEAVE_PASSWORD_LENGTH = 48;

export const weaveClusterRules: PolicyRule[] = [
  { apiGroups: [""], resources: ["pods", "namespaces", "nodes"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch", "update"] },
];

/** Weave keeps its IP allocation ring in a ConfigMap named after itself. */
export const weaveNamespaceRules: PolicyRule[] = [
  { apiGroups: [""], resources: ["configmaps"], resourceNames: [WEAVE_NAME], verbs: ["get", "update"] },
  { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
];

const privileged = { privileged: true };
const nodeName = { name: "HOSTNAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "spec.nodeName" } } };
const xtablesLock = { name: "xtables-lock", mountPath: "/run/xtables.lock" };

/**
 * The DaemonSet; `password` points at the Secret with Weave's password (the component passes the
 * Secret's name as its output, so the DaemonSet comes after the Secret).
 */
export function weaveDaemonSetSpec(cfg: WeaveSpec, podCidr: string, password: SecretKeySelector): DaemonSetSpec {
  const labels = { name: WEAVE_NAME };
  return {
    selector: { matchLabels: labels },
    updateStrategy: { type: "RollingUpdate" },
    minReadySeconds: 5,
    template: {
      metadata: { labels },
      spec: {
        hostNetwork: true,
        dnsPolicy: "ClusterFirstWithHostNet",
        priorityClassName: "system-node-critical",
        serviceAccountName: WEAVE_NAME,
        restartPolicy: "Always",
        tolerations: everyNode,
        initContainers: [
          {
            name: "weave-init",
            image: cfg.kubeImage,
            command: ["/home/weave/init.sh"],
            securityContext: privileged,
            resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
            volumeMounts: [
              { name: "cni-bin", mountPath: "/host/opt" },
              { name: "cni-bin2", mountPath: "/host/home" },
              { name: "cni-conf", mountPath: "/host/etc" },
              { name: "lib-modules", mountPath: "/lib/modules" },
              xtablesLock,
            ],
          },
        ],
        containers: [
          {
            name: "weave",
            image: cfg.kubeImage,
            command: ["/home/weave/launch.sh"],
            env: [
              nodeName,
              { name: "INIT_CONTAINER", value: "true" },
              { name: "IPALLOC_RANGE", value: podCidr },
              { name: "WEAVE_PASSWORD", valueFrom: { secretKeyRef: password } },
            ],
            readinessProbe: { httpGet: { host: "127.0.0.1", path: "/status", port: 6784 } },
            resources: { requests: { cpu: "50m", memory: "100Mi" }, limits: { cpu: "1", memory: "512Mi" } },
            securityContext: privileged,
            volumeMounts: [
              { name: "weavedb", mountPath: "/weavedb" },
              { name: "dbus", mountPath: "/host/var/lib/dbus", readOnly: true },
              { name: "cni-machine-id", mountPath: "/host/etc/machine-id", readOnly: true },
              xtablesLock,
            ],
          },
          {
            name: "weave-npc",
            image: cfg.npcImage,
            env: [nodeName],
            resources: { requests: { cpu: "50m", memory: "50Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
            securityContext: privileged,
            volumeMounts: [xtablesLock],
          },
        ],
        volumes: [
          hostPath("weavedb", "/var/lib/weave"),
          hostPath("cni-bin", "/opt"),
          hostPath("cni-bin2", "/home"),
          hostPath("cni-conf", "/etc"),
          hostPath("cni-machine-id", "/etc/machine-id"),
          hostPath("dbus", "/var/lib/dbus"),
          hostPath("lib-modules", "/lib/modules"),
          hostPath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
        ],
      },
    },
  };
}
