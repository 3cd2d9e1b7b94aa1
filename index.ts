// kubeadm-istio-lab: the seed lab as code. Machines → Kubernetes → CNI → Istio → Bookinfo → routing.
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config/load";
import { apiServerOf } from "./config/kubeconfig";
import { Endpoint, hostKeyProblems, unreachable } from "./config/preflight";
import { insecureHostKeyWarning } from "./config/hostKeys";
import { CONFIG_NAMESPACE, ConfigError, unpinnedKeyWarnings } from "./config/schema";
import { fixedSettingChanges, fixedSettings } from "./config/fixed";
import { productpageUrls } from "./specs/bookinfo";
import { cniPodsCommand } from "./specs/cni";
import { DebianNode } from "./components/debianNode";
import { KubeadmCluster } from "./components/kubeadmCluster";
import { WeaveNet } from "./components/weaveNet";
import { Flannel } from "./components/flannel";
import { Istio } from "./components/istio";
import { Bookinfo } from "./components/bookinfo";
import { TrafficPolicy } from "./components/trafficPolicy";
import { stackFieldManagerTransform } from "./components/fieldManager";

// A bad config, an unreachable machine or a wrong host key is the user's to fix: the engine prints a
// RunError's message alone, without a stack trace.
export = async () => {
  try {
    return await program();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof PreflightError) throw new pulumi.RunError(e.message);
    throw e;
  }
};

class PreflightError extends Error {}

/** The engine's builtin function behind StackReference: a stack's last outputs. */
const READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs";

const WEAVE_ARCHIVED =
  `Weave Net is archived: Weaveworks closed in 2024, its last release is 2.8.1 (2021), and it is untested upstream ` +
  `since Kubernetes 1.30. For a maintained CNI set ${CONFIG_NAMESPACE}:cluster.cni: flannel before the cluster's first up ` +
  `(the CNI of a running cluster is not switched in place).`;

async function program() {
  // 1. Config, validated as a whole before anything is registered.
  const { config, access } = loadConfig();
  const { cluster: clusterSpec } = config;
  if (access.kind === "ssh" && clusterSpec.insecureSkipHostKeyCheck) {
    pulumi.log.warn(insecureHostKeyWarning(CONFIG_NAMESPACE, config.nodes, pulumi.getStack()));
  }
  // Settings fixed once the cluster runs, against what the last up recorded (this stack's own output,
  // read by the engine's builtin invoke: unlike a StackReference it adds no resource and no step).
  const fixed = fixedSettings(config);
  if (Object.keys(fixed).length > 0) {
    const last = (await pulumi.runtime.invoke(READ_STACK_OUTPUTS, { name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}` })) as { outputs?: Record<string, unknown> };
    const changed = fixedSettingChanges(last.outputs?.clusterSettings, fixed);
    if (changed.length > 0) throw new ConfigError(changed);
  }

  // 2. Is what we are about to change there? Preview warns; up stops before any change.
  const endpoints: Endpoint[] = [];
  let apiHost: string | undefined;
  if (access.kind === "ssh") {
    // Only `up` dials the machines: a preview must work before they exist.
    if (!pulumi.runtime.isDryRun()) {
      config.nodes.forEach((n, i) =>
        endpoints.push({ what: `node ${n.name} (SSH)`, host: n.address, port: n.port, hint: `check ${CONFIG_NAMESPACE}:nodes[${i}].address and port, and that sshd runs there` }),
      );
    }
  } else {
    const api = apiServerOf(access.text, clusterSpec.context);
    if ("error" in api) throw new ConfigError([`the kubeconfig (${CONFIG_NAMESPACE}:cluster.kubeconfigPath or :kubeconfig) ${api.error}`]);
    apiHost = api.host;
    endpoints.push({ what: "the Kubernetes API server", host: api.host, port: api.port, hint: "is the cluster running, and is this the right kubeconfig/context?" });
  }
  const down = await unreachable(endpoints, clusterSpec.reachabilityTimeoutSeconds * 1000);
  if (down.length > 0) {
    if (!pulumi.runtime.isDryRun()) throw new PreflightError(`nothing was changed:\n  - ${down.join("\n  - ")}`);
    down.forEach((line) => pulumi.log.warn(`${line}\nThe preview goes on, but its diff compares with Pulumi's state only, not with the cluster.`));
  }
  // Every node answers: is it the machine whose host key is pinned? Only up dials, as above; the
  // exchange ends before authentication, so no key or secret reaches a machine that fails it.
  if (access.kind === "ssh" && !pulumi.runtime.isDryRun()) {
    const wrong = await hostKeyProblems(CONFIG_NAMESPACE, config.nodes, pulumi.getStack(), clusterSpec.reachabilityTimeoutSeconds * 1000);
    if (wrong.length > 0) throw new PreflightError(`nothing was changed:\n  - ${wrong.join("\n  - ")}`);
  }

  // 3. Machines and the cluster (or an existing cluster's kubeconfig).
  let cluster: KubeadmCluster;
  let controlPlane: DebianNode | undefined;
  if (access.kind === "ssh") {
    // A mirror's key over https without keyFingerprint is trusted as first downloaded: say so every run.
    unpinnedKeyWarnings(config.sources).forEach((w) => pulumi.log.warn(w));
    const nodes = config.nodes.map((n) => new DebianNode(n.name, { node: n, privateKey: access.privateKey, kubernetesVersion: clusterSpec.kubernetesVersion, allowCgroupV1: clusterSpec.allowCgroupV1, sources: config.sources }));
    // Validation guarantees exactly one control plane whenever nodes are provisioned.
    controlPlane = nodes.find((n) => n.role === "controlPlane");
    if (!controlPlane) throw new ConfigError([`${CONFIG_NAMESPACE}:nodes: no node has role controlPlane`]);
    cluster = new KubeadmCluster("cluster", { provision: true, cluster: clusterSpec, imageRepository: config.sources.imageRepository, controlPlane, workers: nodes.filter((n) => n !== controlPlane) });
  } else {
    cluster = new KubeadmCluster("cluster", { provision: false, kubeconfig: access.secret, context: clusterSpec.context });
  }
  // Every Kubernetes object is applied by one field manager named after the stack, so a create cut off
  // mid-way and retried by the next up applies as the same owner.
  const onCluster = { providers: { kubernetes: cluster.provider }, transforms: [stackFieldManagerTransform()] };

  // 4. The CNI, only on clusters we built: the lab's Weave Net, or flannel.
  //    Then every node Ready before anything is scheduled: a broken pod network fails here, by node.
  const cni: pulumi.Resource[] = [];
  if (clusterSpec.provision && clusterSpec.cni === "weave") {
    pulumi.log.warn(WEAVE_ARCHIVED);
    cni.push(new WeaveNet("weave-net", { weave: config.weave, podCidr: clusterSpec.podCidr, after: cluster.workersJoined }, onCluster));
  } else if (clusterSpec.provision) {
    cni.push(new Flannel("flannel", { flannel: config.flannel, podCidr: clusterSpec.podCidr, after: cluster.workersJoined }, onCluster));
  }
  const nodesReady = cluster.waitForReadyNodes(cni, cniPodsCommand(clusterSpec.cni));

  // 5. Istio, then Bookinfo in an injected namespace, then its routing.
  const istio = new Istio("istio", { istio: config.istio, after: [...cni, ...nodesReady, ...cluster.workersJoined] }, onCluster);
  const bookinfo = new Bookinfo("bookinfo", { bookinfo: config.bookinfo, after: [...istio.ready, istio.peerAuthentication] }, onCluster);
  const traffic = new TrafficPolicy("traffic", { traffic: config.traffic, namespace: config.bookinfo.namespace, after: [bookinfo] }, onCluster);

  const host = config.bookinfo.host ?? controlPlane?.address ?? apiHost ?? "localhost";
  const urls = productpageUrls(host, config.istio.ingressNodePort, config.bookinfo.nodePort);
  return {
    productpageUrl: urls.ingress,
    productpageNodePortUrl: urls.nodePort,
    nodes: config.nodes.map((n) => ({ name: n.name, role: n.role, address: n.address })),
    kubeconfig: cluster.kubeconfig,
    routing: traffic.summary,
    // What the next run compares its config with (config/fixed.ts).
    clusterSettings: fixed,
  };
}
