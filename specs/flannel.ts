// Flannel, the maintained CNI for a kubeadm lab: the same objects as flannel's own kube-flannel
// manifest, as data. flanneld runs on every node with the Kubernetes subnet manager (each node's
// spec.podCIDR, which kubeadm's controller manager allocates from --pod-network-cidr, becomes that
// node's subnet); init containers copy the `flannel` CNI plugin into /opt/cni/bin and the node's CNI
// config into /etc/cni/net.d. Its
// `Network` is the cluster's pod CIDR, as Weave's IPALLOC_RANGE is.
import type * as k8s from "@pulumi/kubernetes";
import type { FlannelSpec } from "../config/schema";
import { everyNode, hostPath } from "./cni";

type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;
type DaemonSetSpec = k8s.types.input.apps.v1.DaemonSetSpec;

export const FLANNEL_NAME = "flannel";
export const FLANNEL_NAMESPACE = "kube-flannel";
export const FLANNEL_CONFIG_MAP = "kube-flannel-cfg";
/** flanneld's health endpoint on each node (host network). */
export const FLANNEL_HEALTH_PORT = 8081;

/** What the objects depend on: the images and the backend. */
export type FlannelParams = Pick<FlannelSpec, "image" | "cniPluginImage" | "backend">;

export const flannelClusterRules: PolicyRule[] = [
  { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
  { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
  // flanneld writes its public IP and backend data onto its node, and clears NetworkUnavailable.
  { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
];

/** flanneld's network config: the pod CIDR it splits into node subnets, and the backend. */
export function flannelNetConf(podCidr: string, backend: FlannelParams["backend"]): string {
  return JSON.stringify({ Network: podCidr, EnableNFTables: false, Backend: { Type: backend } }, null, 2);
}

/** The CNI config each node's kubelet reads: flannel delegates to the bridge plugin; portmap for hostPorts. */
export function flannelCniConf(): string {
  return JSON.stringify(
    {
      name: "cbr0",
      cniVersion: "0.3.1",
      plugins: [
        { type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export function flannelDaemonSetSpec(p: FlannelParams): DaemonSetSpec {
  const labels = { app: FLANNEL_NAME, tier: "node" };
  const small = { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } };
  return {
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        hostNetwork: true,
        nodeSelector: { "kubernetes.io/os": "linux" },
        priorityClassName: "system-node-critical",
        serviceAccountName: FLANNEL_NAME,
        tolerations: everyNode,
        initContainers: [
          {
            name: "install-cni-plugin",
            image: p.cniPluginImage,
            command: ["cp"],
            args: ["-f", "/flannel", "/opt/cni/bin/flannel"],
            resources: small,
            volumeMounts: [{ name: "cni-plugin", mountPath: "/opt/cni/bin" }],
          },
          {
            // flannel's image has no shell tools: it brings its own installer for the config.
            name: "install-cni",
            image: p.image,
            command: ["/opt/bin/install-conf"],
            args: ["/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
            resources: small,
            volumeMounts: [
              { name: "cni", mountPath: "/etc/cni/net.d" },
              { name: "flannel-cfg", mountPath: "/etc/kube-flannel/" },
            ],
          },
        ],
        containers: [
          {
            name: "kube-flannel",
            image: p.image,
            command: ["/opt/bin/flanneld"],
            args: ["--ip-masq", "--kube-subnet-mgr", `--healthz-port=${FLANNEL_HEALTH_PORT}`],
            ports: [{ name: "healthz", containerPort: FLANNEL_HEALTH_PORT, protocol: "TCP" }],
            // Ready once it has its node's subnet and wrote /run/flannel/subnet.env for the plugin.
            readinessProbe: { httpGet: { path: "/readyz", port: "healthz" }, initialDelaySeconds: 5, periodSeconds: 10 },
            livenessProbe: { httpGet: { path: "/healthz", port: "healthz" }, initialDelaySeconds: 10, periodSeconds: 30 },
            env: [
              { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
              { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
              { name: "EVENT_QUEUE_DEPTH", value: "5000" },
              // Exit rather than run on a node cache that never filled: the DaemonSet restarts it.
              { name: "CONT_WHEN_CACHE_NOT_READY", value: "false" },
            ],
            resources: { requests: { cpu: "100m", memory: "50Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
            // Not privileged: it needs to manage interfaces, routes and iptables, nothing else.
            securityContext: { privileged: false, capabilities: { add: ["NET_ADMIN", "NET_RAW"] } },
            volumeMounts: [
              { name: "run", mountPath: "/run/flannel" },
              { name: "flannel-cfg", mountPath: "/etc/kube-flannel/" },
              { name: "xtables-lock", mountPath: "/run/xtables.lock" },
            ],
          },
        ],
        volumes: [
          hostPath("run", "/run/flannel"),
          hostPath("cni-plugin", "/opt/cni/bin"),
          hostPath("cni", "/etc/cni/net.d"),
          { name: "flannel-cfg", configMap: { name: FLANNEL_CONFIG_MAP } },
          hostPath("xtables-lock", "/run/xtables.lock", "FileOrCreate"),
        ],
      },
    },
  };
}
