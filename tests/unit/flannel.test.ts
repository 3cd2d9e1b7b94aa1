// Flannel's objects (specs/flannel.ts): its network is the cluster's pod CIDR, the backend is the
// configured one, and the DaemonSet runs flanneld with the Kubernetes subnet manager on every node.
import { flannelCniConf, flannelDaemonSetSpec, flannelNetConf } from "../../specs/flannel";

const params = { image: "mirror.example:5000/flannel/flannel:v0.28.4", cniPluginImage: "mirror.example:5000/flannel/flannel-cni-plugin:v1.9.1", backend: "vxlan" as const };

describe("flannel", () => {
  test("splits the cluster's pod CIDR into node subnets, over the configured backend", () => {
    expect(JSON.parse(flannelNetConf("10.0.0.0/16", "vxlan"))).toEqual({ Network: "10.0.0.0/16", EnableNFTables: false, Backend: { Type: "vxlan" } });
    expect(JSON.parse(flannelNetConf("10.244.0.0/16", "host-gw")).Backend).toEqual({ Type: "host-gw" });
  });

  test("the node's CNI config delegates to flannel, with portmap for hostPorts", () => {
    const conf = JSON.parse(flannelCniConf()) as { plugins: { type: string }[] };
    expect(conf.plugins.map((p) => p.type)).toEqual(["flannel", "portmap"]);
  });

  test("flanneld runs on every node with the subnet manager, from the configured images, with NET_ADMIN but not privileged", () => {
    const spec = flannelDaemonSetSpec(params);
    const pod = (spec.template as { spec: unknown }).spec as { tolerations: unknown[]; initContainers: { image: string }[]; containers: { image: string; args: string[]; securityContext: unknown }[]; hostNetwork: boolean };
    expect(pod.hostNetwork).toBe(true);
    expect(pod.tolerations).toEqual(expect.arrayContaining([{ operator: "Exists", effect: "NoSchedule" }]));
    expect(pod.initContainers.map((c) => c.image)).toEqual([params.cniPluginImage, params.image]);
    expect(pod.containers[0].image).toBe(params.image);
    expect(pod.containers[0].args).toEqual(["--ip-masq", "--kube-subnet-mgr", "--healthz-port=8081"]);
    expect(pod.containers[0].securityContext).toEqual({ privileged: false, capabilities: { add: ["NET_ADMIN", "NET_RAW"] } });
  });
});
