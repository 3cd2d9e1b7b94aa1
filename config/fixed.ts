// Settings a running cluster cannot take in place. kubeadm reads them once, at `kubeadm init`, and the
// CNI addresses every pod from them: changed later in config, the program's scripts stop at their
// markers while the CNI's manifests follow the new value, and the cluster silently diverges from its
// config. The program records them as a stack output at each `up` and compares the config with the
// last one before it registers anything, so such a change is refused at preview, naming the key.
import { CONFIG_NAMESPACE, LabConfig } from "./schema";

/** The recorded values, keyed as in config. */
export type FixedSettings = Record<string, string>;

const WHY: Record<string, string> = {
  "cluster.cni": "the CNI of a running cluster is not switched in place (every pod would need a new address)",
  "cluster.podCidr": "kubeadm gave every node its pod subnet from it at init, and kube-proxy and the CNI use it",
  "cluster.serviceCidr": "every Service's cluster IP, the API server's certificate and CoreDNS's address come from it",
  "cluster.apiServerPort": "every kubeconfig and every worker's kubelet reach the API server on it",
  "cluster.kubernetesVersion":
    "this program does not upgrade a running cluster yet: a new version would reach only the packages (every kubelet at once, past the control plane, with no kubeadm upgrade); upgrade by hand with kubeadm's documented steps, then set the new version here",
  "cluster.kubeProxyConntrackMaxPerCore": "kubeadm wrote kube-proxy's configuration (ConfigMap kube-system/kube-proxy) from it at init",
  "nodes (the controlPlane node)": "kubeadm wrote its name and address into the cluster's certificates and every kubeconfig",
};

/** The settings of a provisioned cluster that are fixed once it runs; none for an existing cluster. */
export function fixedSettings(config: LabConfig): FixedSettings {
  if (!config.cluster.provision) return {};
  const controlPlane = config.nodes.find((n) => n.role === "controlPlane");
  return {
    "cluster.cni": config.cluster.cni,
    "cluster.kubernetesVersion": config.cluster.kubernetesVersion,
    "cluster.podCidr": config.cluster.podCidr,
    "cluster.serviceCidr": config.cluster.serviceCidr,
    "cluster.apiServerPort": String(config.cluster.apiServerPort),
    "cluster.kubeProxyConntrackMaxPerCore": String(config.cluster.kubeProxyConntrackMaxPerCore ?? "kube-proxy's default"),
    ...(controlPlane ? { "nodes (the controlPlane node)": `${controlPlane.name} at ${controlPlane.address}` } : {}),
  };
}

/**
 * Problems for each setting whose value differs from what the cluster was built with. `recorded` is
 * the last `up`'s output, or undefined before the first (or on a stack from before it was recorded).
 */
export function fixedSettingChanges(recorded: unknown, current: FixedSettings): string[] {
  if (recorded === null || typeof recorded !== "object") return [];
  const before = recorded as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(current)) {
    const was = before[key];
    if (typeof was !== "string" || was === value) continue;
    problems.push(
      `${CONFIG_NAMESPACE}:${key}: the running cluster was built with ${JSON.stringify(was)}; ${WHY[key] ?? "it is fixed at the first up"}. ` +
        `Set it back to ${JSON.stringify(was)}, or destroy the stack (pulumi destroy) and up again with ${JSON.stringify(value)}`,
    );
  }
  return problems;
}
