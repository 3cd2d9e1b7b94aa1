// Every invalid value is refused before any resource exists, with a message naming the config key and
// what is allowed.
import { ConfigError, parseLabConfig, RawConfig, unpinnedKeyWarnings } from "../../config/schema";
import { stackConfig } from "./harness";
import { hostsStackConfig } from "../rig/lab";
import type { SourcesState } from "../rig/sources";
import type { HostsState } from "../rig/state";

const dev = stackConfig("dev");
const base: RawConfig = { ...dev, hasSshPrivateKey: true, hasKubeconfig: false };

function problems(raw: Partial<RawConfig>): string[] {
  try {
    parseLabConfig({ ...base, ...raw });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

function expectProblem(raw: Partial<RawConfig>, key: string, text: RegExp): void {
  const found = problems(raw);
  const matching = found.filter((p) => p.startsWith(`kubeadm-istio-lab:${key}`));
  if (matching.length === 0) throw new Error(`no problem for ${key}; got:\n${found.join("\n")}`);
  expect(matching.join("\n")).toMatch(text);
}

test("the dev stack's config is valid: three nodes, canary 90/10 on reviews", () => {
  const cfg = parseLabConfig(base);
  expect(cfg.nodes.map((n) => [n.name, n.role])).toEqual([["nieve", "controlPlane"], ["sansa", "worker"], ["arya", "worker"]]);
  expect(cfg.traffic.reviews.strategy).toEqual({ kind: "canary", stable: "v1", canary: "v2", weight: 10 });
  expect(cfg.cluster.podCidr).toBe("10.0.0.0/16");
  expect(cfg.istio.mtls).toBe("STRICT");
});

describe("traffic", () => {
  const t = (reviews: unknown) => ({ traffic: { reviews } });
  test("weight over 100", () => expectProblem(t({ canary: "v2", weight: 120 }), "traffic.reviews.weight", /<=100 \(got 120\)/));
  test("negative weight", () => expectProblem(t({ canary: "v2", weight: -5 }), "traffic.reviews.weight", />=0/));
  test("fractional weight", () => expectProblem(t({ canary: "v2", weight: 12.5 }), "traffic.reviews.weight", /whole percentage/));
  test("unknown version", () => expectProblem(t({ active: "v4" }), "traffic.reviews.active", /no version "v4"; allowed: v1, v2, v3/));
  test("unknown canary version", () => expectProblem(t({ canary: "v9", weight: 5 }), "traffic.reviews.canary", /allowed: v1, v2, v3/));
  test("canary equal to stable", () => expectProblem(t({ canary: "v1", weight: 5 }), "traffic.reviews.canary", /must differ from the stable version v1/));
  test("canary without weight", () => expectProblem(t({ canary: "v2" }), "traffic.reviews.weight", /required with a canary/));
  test("weight without canary", () => expectProblem(t({ weight: 10 }), "traffic.reviews.weight", /only used by a canary/));
  test("strategy canary without canary version", () => expectProblem(t({ strategy: "canary", weight: 10 }), "traffic.reviews.canary", /required/));
  test("typo in a key", () => expectProblem(t({ canary: "v2", wieght: 10 }), "traffic.reviews", /traffic.reviews.wieght: unknown key; did you mean weight\?/));
  test("unknown service", () => expectProblem({ traffic: { reviewz: { active: "v1" } } }, "traffic.reviewz", /unknown service; did you mean reviews\? allowed: productpage, details, ratings, reviews/));
  test("bad duration", () => expectProblem(t({ timeout: "half a second" }), "traffic.reviews.timeout", /duration/));
  test("zero duration", () => expectProblem(t({ timeout: "0s" }), "traffic.reviews.timeout", /at least 1ms/));
  test("fault percent over 100", () => expectProblem(t({ fault: { delay: { percent: 150, fixedDelay: "2s" } } }), "traffic.reviews.fault.delay.percent", /<=100/));
  test("abort status out of range", () => expectProblem(t({ fault: { abort: { httpStatus: 42 } } }), "traffic.reviews.fault.abort.httpStatus", />=200/));
  test("empty fault", () => expectProblem(t({ fault: {} }), "traffic.reviews.fault", /set delay and\/or abort/));
  test("retries longer than the timeout", () =>
    expectProblem(t({ timeout: "1s", retries: { attempts: 3, perTryTimeout: "500ms" } }), "traffic.reviews.retries", /exceed the route timeout 1s/));
  test("unknown retry condition", () => expectProblem(t({ retries: { attempts: 2, retryOn: "5xx,sometimes" } }), "traffic.reviews.retries.retryOn", /unknown condition sometimes/));
  test("header route with two match kinds", () =>
    expectProblem(t({ headerRoutes: [{ header: "end-user", exact: "jason", prefix: "j", version: "v2" }] }), "traffic.reviews.headerRoutes[0]", /exactly one of exact, prefix or regex/));
  test("header route with an upper-case header", () =>
    expectProblem(t({ headerRoutes: [{ header: "User-Agent", regex: ".*iPhone.*", version: "v3" }] }), "traffic.reviews.headerRoutes[0].header", /lower-case/));
  test("header route with a broken regex", () =>
    expectProblem(t({ headerRoutes: [{ header: "user-agent", regex: "(iPhone", version: "v3" }] }), "traffic.reviews.headerRoutes[0].regex", /not a valid RE2 regular expression/));
  test("header route to an unknown version", () =>
    expectProblem(t({ headerRoutes: [{ header: "end-user", exact: "jason", version: "v7" }] }), "traffic.reviews.headerRoutes[0].version", /allowed: v1, v2, v3/));
});

describe("cluster and nodes", () => {
  const nodes = dev.nodes as Record<string, unknown>[];
  test("no control-plane node", () =>
    expectProblem({ nodes: nodes.map((n) => ({ ...n, role: "worker" })) }, "nodes", /exactly one node must have role controlPlane \(found 0\)/));
  test("two control-plane nodes", () =>
    expectProblem({ nodes: nodes.map((n) => ({ ...n, role: "controlPlane" })) }, "nodes", /found 3: nieve, sansa, arya/));
  test("duplicate node names", () =>
    expectProblem({ nodes: [nodes[0], nodes[1], { ...nodes[2], name: "sansa" }] }, "nodes[2].name", /duplicate node name sansa \(also nodes\[1\]\)/));
  test("duplicate addresses", () =>
    expectProblem({ nodes: [nodes[0], nodes[1], { ...nodes[2], address: "192.0.2.11" }] }, "nodes[2].address", /also nodes\[1\]'s address/));
  test("bad role", () => expectProblem({ nodes: [{ ...nodes[0], role: "master" }] }, "nodes[0].role", /controlPlane.*worker/));
  test("bad node name", () => expectProblem({ nodes: [{ ...nodes[0], name: "Nieve_1" }] }, "nodes[0].name", /DNS label/));
  test("missing SSH key when provisioning", () =>
    expectProblem({ hasSshPrivateKey: false }, "sshPrivateKey", /required when cluster.provision is true; set it with: pulumi config set --secret/));
  test("overlapping pod and service CIDRs", () =>
    expectProblem({ cluster: { podCidr: "10.96.0.0/16", serviceCidr: "10.96.0.0/12" } }, "cluster.podCidr", /overlaps cluster.serviceCidr/));
  test("a node inside the pod CIDR", () =>
    expectProblem({ nodes: [{ ...nodes[0], address: "10.0.3.4" }, nodes[1], nodes[2]] }, "nodes[0].address", /inside cluster.podCidr 10.0.0.0\/16/));
  test("the seed's en-dash CIDR typo is not a CIDR", () =>
    expectProblem({ cluster: { podCidr: "–10.0.0.0/16" } }, "cluster.podCidr", /not an IPv4 CIDR/));
  test("host bits set", () => expectProblem({ cluster: { podCidr: "10.0.0.1/16" } }, "cluster.podCidr", /did you mean 10.0.0.0\/16/));
  test("Kubernetes version written as a number", () =>
    expectProblem({ cluster: { kubernetesVersion: 1.3 } }, "cluster.kubernetesVersion", /quoted minor version/));
  test("existing cluster without a kubeconfig", () =>
    expectProblem({ cluster: { provision: false }, nodes: undefined }, "cluster.kubeconfigPath", /needs cluster.kubeconfigPath or the secret/));
  test("nodes given for an existing cluster", () =>
    expectProblem({ cluster: { provision: false, kubeconfigPath: "/k" } }, "nodes", /only used when cluster.provision is true/));
  test("allowCgroupV1 for an existing cluster (nothing of kubeadm runs there)", () =>
    expectProblem({ cluster: { provision: false, kubeconfigPath: "/k", allowCgroupV1: true }, nodes: undefined }, "cluster.allowCgroupV1", /only used with cluster.provision: true/));
  test("allowCgroupV1 written as a string", () => expectProblem({ cluster: { allowCgroupV1: "yes" } }, "cluster.allowCgroupV1", /boolean/));
});

describe("istio, bookinfo, weave", () => {
  test("unknown mTLS mode", () => expectProblem({ istio: { mtls: "STRICTER" } }, "istio.mtls", /STRICT.*PERMISSIVE.*DISABLE/));
  test("Istio version not a release", () => expectProblem({ istio: { version: "latest" } }, "istio.version", /Istio release/));
  test("Istio pre-release versions (its development charts) are releases too", () => {
    expect(parseLabConfig({ ...base, istio: { version: "1.31.0-alpha.eed52ebb66ad" } }).istio.version).toBe("1.31.0-alpha.eed52ebb66ad");
    expectProblem({ istio: { version: "1.31-alpha" } }, "istio.version", /pre-release such as "1.30.0-beta.0"/);
  });
  test("an external istiod's webhooks over plain HTTP", () =>
    expectProblem({ istio: { externalIstiod: { webhookUrl: "http://127.0.0.1:15017" } } }, "istio.externalIstiod.webhookUrl", /https:\/\//));
  test("an external istiod with istio.install: false (no chart to tell)", () =>
    expectProblem({ istio: { install: false, externalIstiod: { webhookUrl: "https://127.0.0.1:15017" } } }, "istio.externalIstiod", /with istio.install: false remove it/));
  test("an external istiod's webhook URL loses a trailing slash", () =>
    expect(parseLabConfig({ ...base, istio: { externalIstiod: { webhookUrl: "https://istiod.example:15017/" } } }).istio.externalIstiod).toEqual({ webhookUrl: "https://istiod.example:15017" }));
  test("addons without installing Istio", () =>
    expectProblem({ istio: { install: false, addons: { kiali: true } } }, "istio.addons", /turn them off/));
  test("unknown addon", () => expectProblem({ istio: { addons: { zipkin: true } } }, "istio.addons", /istio.addons.zipkin: unknown key; allowed: prometheus, grafana, kiali, jaeger/));
  test("latest image tag", () => expectProblem({ bookinfo: { imageTag: "latest" } }, "bookinfo.imageTag", /pinned tag/));
  test("NodePort out of range", () => expectProblem({ bookinfo: { nodePort: 8080 } }, "bookinfo.nodePort", /30000|32767/));
  test("image override for an unknown workload", () =>
    expectProblem({ bookinfo: { images: { "reviews-v4": "example/reviews:1" } } }, "bookinfo.images.reviews-v4", /unknown workload/));
  test("same NodePort for productpage and the gateway", () =>
    expectProblem({ bookinfo: { nodePort: 31080 } }, "bookinfo.nodePort", /also istio.ingressNodePort/));
  test("bad Weave version", () => expectProblem({ weave: { version: "2.8" } }, "weave.version", /must be a release such as "2.8.1" \(got "2.8"\)/));
});

describe("the CNI", () => {
  test("Weave by default, as the lab; flannel's defaults are its own manifest's images, vxlan", () => {
    const cfg = parseLabConfig(base);
    expect(cfg.cluster.cni).toBe("weave");
    expect(cfg.flannel).toEqual({
      version: "v0.28.10",
      image: "ghcr.io/flannel-io/flannel:v0.28.10",
      cniPluginImage: "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
      backend: "vxlan",
    });
  });
  test("flannel from a mirror, over host-gw", () => {
    const cfg = parseLabConfig({ ...base, cluster: { ...(base.cluster as object), cni: "flannel" }, flannel: { registry: "10.213.0.1:5000/flannel-io", backend: "host-gw" } });
    expect(cfg.flannel.image).toBe("10.213.0.1:5000/flannel-io/flannel:v0.28.10");
    expect(cfg.flannel.cniPluginImage).toBe("10.213.0.1:5000/flannel-io/flannel-cni-plugin:v1.9.1-flannel3");
    expect(cfg.flannel.backend).toBe("host-gw");
  });
  const withCni = (cni: string, extra: Partial<RawConfig> = {}) => ({ cluster: { ...(base.cluster as object), cni }, ...extra });
  test("an unknown CNI", () => expectProblem(withCni("calico"), "cluster.cni", /must be one of weave, flannel/));
  test("an unknown flannel backend", () => expectProblem(withCni("flannel", { flannel: { backend: "wireguard" } }), "flannel.backend", /vxlan or host-gw/));
  test("flannel settings while Weave is the CNI", () => expectProblem({ flannel: { backend: "host-gw" } }, "flannel", /only used with cluster.cni: flannel \(the cluster's CNI is weave\)/));
  test("Weave settings while flannel is the CNI", () => expectProblem(withCni("flannel", { weave: { version: "2.8.1" } }), "weave", /only used with cluster.cni: weave/));
  test("a CNI for a cluster the program does not build", () =>
    expectProblem({ cluster: { provision: false, kubeconfigPath: "/k", cni: "flannel" }, nodes: [] }, "cluster.cni", /only used with cluster.provision: true/));
});

test("all problems are reported at once, and the error says nothing was changed", () => {
  expect(() => parseLabConfig({ ...base, traffic: { reviews: { weight: 500 } }, istio: { mtls: "NO" } })).toThrow(/invalid stack config \(\d+ problems\); nothing was changed/);
  expect(problems({ traffic: { reviews: { canary: "v2", weight: 500 } }, istio: { mtls: "NO" } }).length).toBeGreaterThanOrEqual(2);
});

describe("only true problems, every one of them (issue 14)", () => {
  const local = stackConfig("local");
  const localBase: RawConfig = { ...local, hasSshPrivateKey: false, hasKubeconfig: false };
  const exactly = (raw: Partial<RawConfig>, from: RawConfig = base) => {
    try {
      parseLabConfig({ ...from, ...raw });
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };

  test("a mistyped top-level key is refused with the key it resembles", () =>
    expect(exactly({ keys: ["cluster", "trafic"], traffic: undefined })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:trafic: unknown key of this project; did you mean kubeadm-istio-lab:traffic\?/),
    ]));
  test("every known top-level key is accepted, whatever else is set", () =>
    expect(exactly({ keys: ["cluster", "nodes", "istio", "bookinfo", "weave", "traffic", "sources", "sshPrivateKeyPath", "sshPrivateKey", "kubeconfig"] })).toEqual([]));
  test("a dotted key set without --path is explained", () =>
    expect(exactly({ keys: ["traffic.reviews.weight"] })).toEqual([expect.stringMatching(/a key with dots is one flat key; .*pulumi config set --path traffic.reviews.weight VALUE/)]));
  test("weight 101 and ratings v9: both services are checked", () =>
    expect(exactly({ traffic: { reviews: { canary: "v2", weight: 101 }, ratings: { active: "v9" } } })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:traffic.ratings.active: ratings has no version "v9"/),
      expect.stringMatching(/^kubeadm-istio-lab:traffic.reviews.weight: .*<=100 \(got 101\)/),
    ]));
  test("an SSH port of 0 is the only problem: the control plane is still counted", () => {
    const nodes = (dev.nodes as Record<string, unknown>[]).map((n, i) => (i === 0 ? { ...n, port: 0 } : n));
    expect(exactly({ nodes })).toEqual([expect.stringMatching(/^kubeadm-istio-lab:nodes\[0\].port: .*>=1 \(got 0\)/)]);
  });
  test("a bad role on one node does not invent a missing control plane", () => {
    const nodes = (dev.nodes as Record<string, unknown>[]).map((n, i) => (i === 0 ? { ...n, role: "master" } : n));
    expect(exactly({ nodes })).toEqual([expect.stringMatching(/^kubeadm-istio-lab:nodes\[0\].role:/)]);
  });
  test("a misspelt cluster key is the only problem: no overlaps with CIDRs the user never set, no missing kubeconfig", () =>
    expect(exactly({ cluster: { provision: false, kubeConfigPath: "/k" } }, { ...localBase, nodes: undefined })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:cluster.kubeConfigPath: unknown key; did you mean kubeconfigPath\?/),
    ]));
  test("a bad provision flag skips the checks that depend on it", () =>
    expect(exactly({ cluster: { provision: "yes" } })).toEqual([expect.stringMatching(/^kubeadm-istio-lab:cluster.provision: .*boolean/)]));
  test("one bad header route does not hide another's problem", () =>
    expect(exactly({ traffic: { reviews: { headerRoutes: [{ header: "User-Agent", regex: ".*iPhone.*", version: "v3" }, { header: "end-user", exact: "jason", version: "v8" }] } } })).toEqual([
      expect.stringMatching(/headerRoutes\[0\].header: must be a lower-case HTTP header name/),
      expect.stringMatching(/headerRoutes\[1\].version: reviews has no version "v8"/),
    ]));
  test("a regex JavaScript takes but RE2 does not (lookahead) is refused", () =>
    expectProblem({ traffic: { reviews: { headerRoutes: [{ header: "user-agent", regex: "(?=.*iPhone).*", version: "v3" }] } } }, "traffic.reviews.headerRoutes[0].regex", /not a valid RE2 regular expression.*\(\?=/));
  test("a backreference is refused, an RE2 case-insensitive flag is not", () => {
    expectProblem({ traffic: { reviews: { headerRoutes: [{ header: "user-agent", regex: "(a)\\1", version: "v3" }] } } }, "traffic.reviews.headerRoutes[0].regex", /RE2/);
    expect(exactly({ traffic: { reviews: { headerRoutes: [{ header: "user-agent", regex: "(?i).*iphone.*", version: "v3" }] } } })).toEqual([]);
  });
  test("an empty traffic section is refused with a message, not accepted", () =>
    expect(exactly({ traffic: null })).toEqual([expect.stringMatching(/^kubeadm-istio-lab:traffic: is empty; set a service's routing/)]));
  test("an empty istio section is refused the same way", () =>
    expect(exactly({ istio: null })).toEqual([expect.stringMatching(/^kubeadm-istio-lab:istio: is empty/)]));
  test("a nested typo gets the nearest key too", () =>
    expectProblem({ traffic: { ratings: { fault: { dealy: { fixedDelay: "2s" } } } } }, "traffic.ratings.fault.dealy", /unknown key; did you mean delay\?/));
  test("a missing required field says required", () =>
    expectProblem({ traffic: { reviews: { headerRoutes: [{ header: "end-user", exact: "jason" }] } } }, "traffic.reviews.headerRoutes[0].version", /required$/));
});

describe("node addresses", () => {
  const nodes = dev.nodes as Record<string, unknown>[];
  const withAddress = (address: string) => ({ nodes: [{ ...nodes[0], address }, nodes[1], nodes[2]] });
  test("192.0.2.300 is not an IPv4 address", () =>
    expectProblem(withAddress("192.0.2.300"), "nodes[0].address", /"192.0.2.300" is not a valid IPv4 address \(four numbers 0-255, e.g. 192.0.2.10\)/));
  test("three numbers are not an address either", () => expectProblem(withAddress("192.0.2"), "nodes[0].address", /not a valid IPv4 address/));
  test("a broken IPv6 address is named as such", () => expectProblem(withAddress("2001:db8:::1"), "nodes[0].address", /not a valid IPv6 address/));
  test("an underscore is not allowed in a host name", () => expectProblem(withAddress("nieve_1.lab"), "nodes[0].address", /neither an IP address nor a host name/));
  test("IPv6 addresses and RFC 1123 host names are accepted", () => {
    for (const address of ["2001:db8::10", "nieve", "nieve.lab.example.com", "10.213.0.10", "1nieve.example"]) {
      expect(problems(withAddress(address))).toEqual([]);
    }
  });
});

describe("image overrides are pinned", () => {
  test("a bookinfo override tagged latest is refused", () =>
    expectProblem({ bookinfo: { images: { "reviews-v2": "example.com/reviews:latest" } } }, "bookinfo.images.reviews-v2", /tagged latest/));
  test("a bookinfo override without a tag is refused", () =>
    expectProblem({ bookinfo: { images: { "reviews-v2": "example.com:5000/reviews" } } }, "bookinfo.images.reviews-v2", /has no tag/));
  test("a Weave image tagged latest is refused", () => expectProblem({ weave: { kubeImage: "weaveworks/weave-kube:latest" } }, "weave.kubeImage", /tagged latest/));
  test("a tag or a digest is accepted", () => {
    expect(problems({ bookinfo: { images: { "reviews-v2": "example.com:5000/reviews:1.20.3" } } })).toEqual([]);
    expect(problems({ weave: { kubeImage: `weaveworks/weave-kube@sha256:${"a".repeat(64)}` } })).toEqual([]);
  });
});

describe("offline sources", () => {
  const sourcesOf = (sources: unknown) => parseLabConfig({ ...base, sources }).sources;
  test("defaults are the public repositories, pkgs.k8s.io for the configured minor", () => {
    const s = sourcesOf(undefined);
    expect(s.containerd).toEqual({
      url: "https://download.docker.com/linux/debian", suite: undefined, component: "stable", keyUrl: "https://download.docker.com/linux/debian/gpg",
      keyFingerprint: "9DC858229FC7DD38854AE2D88D81803C0EBFCD88", package: "containerd.io",
    });
    expect(s.kubernetes).toEqual({
      url: "https://pkgs.k8s.io/core:/stable:/v1.34/deb/", suite: "/", keyUrl: "https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key",
      keyFingerprint: "DE15B14486CD377B9E876E1A234654DA9A296436",
    });
    expect(s.imageRepository).toBe("registry.k8s.io");
    expect(s.registryMirrors).toEqual({});
  });
  test("a mirror's {minor} is the cluster's minor", () =>
    expect(sourcesOf({ kubernetes: { aptUrl: "https://mirror.example/k8s/v{minor}" } }).kubernetes.url).toBe("https://mirror.example/k8s/v1.34/"));
  test("a repository that is not an http(s) URL is refused naming the key", () =>
    expectProblem({ sources: { containerd: { aptUrl: "ftp://mirror.example/docker" } } }, "sources.containerd.aptUrl", /http:\/\/ or https:\/\/ URL/));
  test("a Kubernetes mirror that is not a URL is refused", () =>
    expectProblem({ sources: { kubernetes: { aptUrl: "mirror/{minor}" } } }, "sources.kubernetes.aptUrl", /http:\/\/ or https:\/\/ URL, optionally with \{minor\}/));
  test("an image repository with a scheme is refused", () =>
    expectProblem({ sources: { imageRepository: "https://registry.example" } }, "sources.imageRepository", /registry and optional path/));
  test("a mirror for a registry given as a URL is refused", () =>
    expectProblem({ sources: { registryMirrors: { "https://docker.io": "https://mirror.example" } } }, "sources.registryMirrors.https://docker.io", /must be a registry host such as docker.io/));
  test("a typo in sources gets the nearest key", () =>
    expectProblem({ sources: { imageRepo: "mirror.example" } }, "sources.imageRepo", /did you mean imageRepository\?/));
  test("Istio's hub and Weave's registry move their images", () => {
    const cfg = parseLabConfig({ ...base, istio: { hub: "mirror.example:5000/istio" }, weave: { registry: "mirror.example:5000/weaveworks" } });
    expect(cfg.istio.hub).toBe("mirror.example:5000/istio");
    expect(cfg.weave.kubeImage).toBe("mirror.example:5000/weaveworks/weave-kube:2.8.1");
  });
});

// Issue 22: values reach the nodes' bash scripts and the files they write. Config takes only values that
// are one plain thing there, and says which key to fix and how.
describe("values that reach the nodes' scripts and files", () => {
  const nodes = dev.nodes as Record<string, unknown>[];
  /** Every problem of a config, exactly (one bad value is one problem). */
  const only = (raw: Partial<RawConfig>) => problems(raw);

  test("a command substitution in the Kubernetes apt URL is refused, naming the key and how to fix it", () =>
    expect(only({ sources: { kubernetes: { aptUrl: "http://m.example/k8s/$(reboot)/v{minor}/deb/" } } })).toEqual([
      'kubeadm-istio-lab:sources.kubernetes.aptUrl: holds "$", which a URL here may not hold as written; percent-encode it (%24) ' +
        '(got "http://m.example/k8s/$(reboot)/v{minor}/deb/", used as "http://m.example/k8s/$(reboot)/v1.34/deb/")',
    ]));

  test("a line break in the Kubernetes apt URL as written is refused (the URL parser would drop it)", () =>
    expect(only({ sources: { kubernetes: { aptUrl: "http://m.example/k8s/\nv{minor}/deb/" } } })).toEqual([
      'kubeadm-istio-lab:sources.kubernetes.aptUrl: holds a line break (U+000A) at character 22; remove it (got "http://m.example/k8s/\\nv{minor}/deb/")',
    ]));

  test("a line break or a tab in any other URL is refused too", () => {
    expectProblem({ sources: { containerd: { aptUrl: "http://m.example/docker\n" } } }, "sources.containerd.aptUrl", /holds a line break/);
    expectProblem({ sources: { containerd: { keyUrl: "http://m.example/\tgpg" } } }, "sources.containerd.keyUrl", /holds a tab/);
    expectProblem({ sources: { registryMirrors: { "docker.io": "http://m.example:5000/\x7f" } } }, "sources.registryMirrors.docker.io", /control character \(U\+007F\)/);
  });

  test("quotes, backquotes, backslashes, spaces and braces in a URL are refused with their percent-encoding", () => {
    expectProblem({ sources: { containerd: { keyUrl: "https://m.example/'gpg'" } } }, "sources.containerd.keyUrl", /holds "'".*percent-encode it \(%27\)/);
    expectProblem({ sources: { registryMirrors: { "docker.io": "https://m.example/`id`" } } }, "sources.registryMirrors.docker.io", /holds "`".*%60/);
    expectProblem({ sources: { containerd: { aptUrl: "https://m.example/a\\b" } } }, "sources.containerd.aptUrl", /holds "\\\\".*%5C/);
    expectProblem({ sources: { containerd: { aptUrl: "https://m.example/a b" } } }, "sources.containerd.aptUrl", /holds " ".*%20/);
    expectProblem({ istio: { chartRepository: 'https://m.example/"charts"' } }, "istio.chartRepository", /%22/);
    expectProblem({ sources: { kubernetes: { aptUrl: "https://m.example/v{major}/deb/" } } }, "sources.kubernetes.aptUrl", /brace other than \{minor\}/);
  });

  test("a '#' in an apt URL is refused (apt would end the line there); elsewhere it is a fragment", () => {
    expectProblem({ sources: { containerd: { aptUrl: "https://m.example/docker#x" } } }, "sources.containerd.aptUrl", /'#', where apt would end the source line/);
    expect(only({ sources: { containerd: { keyUrl: "https://m.example/gpg#x" } } })).toEqual([]);
  });

  test("a URL whose host is not a host name or address is refused", () =>
    expectProblem({ sources: { containerd: { aptUrl: "https://a;b.example/docker" } } }, "sources.containerd.aptUrl", /host name or IP address as its host \(got host "a;b.example"\)/));

  test("URL characters a shell would read are accepted as written (the scripts quote them); brackets only around an IPv6 host", () => {
    expect(only({ sources: { containerd: { aptUrl: "https://m.example/a;b&c(d)*e?f=g!~,+@" } } })).toEqual([]);
    expect(only({ sources: { containerd: { aptUrl: "https://m.example/a?f=[g]" } } })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:sources.containerd.aptUrl: holds '\[' or '\]' after its host; percent-encode them/),
    ]);
  });

  test("plain URLs, IPv6 hosts and {minor} stay accepted", () =>
    expect(only({
      sources: {
        containerd: { aptUrl: "http://[2001:db8::1]:8080/docker;v=1/debian", keyUrl: "https://m.example/gpg?sig=a%2Bb&x=*" },
        kubernetes: { aptUrl: "https://m.example/k8s/v{minor}/deb/" },
        registryMirrors: { "docker.io": "https://m.example:5000/v2!(mirror)" },
      },
    })).toEqual([]));

  test("a node user that is not a user name, e.g. `debian; reboot`, is refused", () =>
    expect(only({ nodes: [{ ...nodes[0], user: "debian; reboot" }, nodes[1], nodes[2]] })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:nodes\[0\]\.user: must be a user name: lower-case letters, digits, '_' and '-'.* \(got "debian; reboot"\)$/),
    ]));

  test("user names: root, ci_bot and a 32-character name are accepted; a capital, a leading digit and 33 characters are not", () => {
    const withUser = (user: string) => only({ nodes: [{ ...nodes[0], user }, nodes[1], nodes[2]] });
    for (const user of ["root", "ci_bot", "_svc", "a".repeat(32)]) expect(withUser(user)).toEqual([]);
    for (const user of ["Debian", "1debian", "a".repeat(33), "debian\n", "$(id)", ""]) expect(withUser(user)).toHaveLength(1);
  });

  test("a node address with an IPv6 zone index is refused", () =>
    expectProblem({ nodes: [{ ...nodes[0], address: "fe80::1%eth0" }, nodes[1], nodes[2]] }, "nodes[0].address", /zone index/));

  test("a registry mirror key with a line break is named on one line", () => {
    const found = only({ sources: { registryMirrors: { "docker.io\n": "https://m.example" } } });
    expect(found).toEqual(['kubeadm-istio-lab:sources.registryMirrors."docker.io\\n": must be a registry host such as docker.io or 10.0.0.5:5000, without a scheme']);
  });
});

// Issue 22, package trust: a signing key is fetched over https, or pinned by its fingerprint; the public
// repositories' keys are pinned by default.
describe("package signing keys", () => {
  const DOCKER = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88";
  const K8S = "DE15B14486CD377B9E876E1A234654DA9A296436";
  const MIRROR = "0123456789ABCDEF0123456789ABCDEF01234567";
  const sourcesOf = (sources: unknown, cluster: unknown = base.cluster) => parseLabConfig({ ...base, cluster, sources }).sources;

  test("the public repositories' keys are pinned to their published fingerprints, for every Kubernetes minor", () => {
    expect(sourcesOf(undefined).containerd.keyFingerprint).toBe(DOCKER);
    expect(sourcesOf(undefined, { ...(base.cluster as object), kubernetesVersion: "1.36" }).kubernetes).toMatchObject({
      keyUrl: "https://pkgs.k8s.io/core:/stable:/v1.36/deb/Release.key",
      keyFingerprint: K8S,
    });
    // The same URLs written out are the public ones too.
    expect(sourcesOf({ containerd: { aptUrl: "https://download.docker.com/linux/debian" }, kubernetes: { aptUrl: "https://pkgs.k8s.io/core:/stable:/v1.33/deb/" } })).toMatchObject({
      containerd: { keyFingerprint: DOCKER },
      kubernetes: { keyFingerprint: K8S },
    });
    expect(unpinnedKeyWarnings(sourcesOf(undefined))).toEqual([]);
  });

  test("a fingerprint set on a public repository replaces the published one (a key rotated before this program knows it)", () =>
    expect(sourcesOf({ containerd: { keyFingerprint: MIRROR } }).containerd.keyFingerprint).toBe(MIRROR));

  test("a mirror gets no default fingerprint: over https its key is trusted on first download, with a warning naming the key to pin", () => {
    const s = sourcesOf({ containerd: { aptUrl: "https://mirror.example/docker/debian" }, kubernetes: { aptUrl: "https://mirror.example/k8s/v{minor}/deb/" } });
    expect([s.containerd.keyFingerprint, s.kubernetes.keyFingerprint]).toEqual([undefined, undefined]);
    expect(unpinnedKeyWarnings(s)).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:sources\.containerd\.keyFingerprint is not set: the machines trust whatever signing key https:\/\/mirror\.example\/docker\/debian\/gpg serves on its first download/),
      expect.stringMatching(/^kubeadm-istio-lab:sources\.kubernetes\.keyFingerprint is not set: .* https:\/\/mirror\.example\/k8s\/v1\.34\/deb\/Release\.key /),
    ]);
  });

  test("an http keyUrl without a fingerprint is refused, naming the key and both ways out", () =>
    expect(problems({ sources: { containerd: { keyUrl: "http://mirror.example/docker/gpg" } } })).toEqual([
      'kubeadm-istio-lab:sources.containerd.keyUrl: "http://mirror.example/docker/gpg" is plain http, where anyone on the path can hand the machines another signing key; ' +
        "use an https:// URL, or pin the key with sources.containerd.keyFingerprint (its 40 hex digits, as curl -fsSL http://mirror.example/docker/gpg | gpg --show-keys prints them)",
    ]));

  test("an http keyUrl is refused even where the https one is a public repository's (no published fingerprint over http)", () =>
    expectProblem({ sources: { containerd: { keyUrl: "http://download.docker.com/linux/debian/gpg" } } }, "sources.containerd.keyUrl", /is plain http/));

  test("an http aptUrl with neither keyUrl nor keyFingerprint (an offline mirror) is refused, naming what to set", () =>
    expect(problems({ sources: { kubernetes: { aptUrl: "http://10.213.0.1:8080/kubernetes/v{minor}/deb/" } } })).toEqual([
      'kubeadm-istio-lab:sources.kubernetes.keyUrl: not set, so the signing key would come from "http://10.213.0.1:8080/kubernetes/v1.34/deb/Release.key" (next to sources.kubernetes.aptUrl) ' +
        "over plain http, where anyone on the path can hand the machines another one; set sources.kubernetes.keyUrl to an https:// URL, or pin the key with " +
        "sources.kubernetes.keyFingerprint (its 40 hex digits, as curl -fsSL http://10.213.0.1:8080/kubernetes/v1.34/deb/Release.key | gpg --show-keys prints them)",
    ]));

  test("http URLs are accepted with a pinned fingerprint, and an http aptUrl with an https keyUrl", () => {
    const pinned = sourcesOf({
      containerd: { aptUrl: "http://10.213.0.1:8080/docker/debian", keyFingerprint: MIRROR },
      kubernetes: { aptUrl: "http://10.213.0.1:8080/kubernetes/v{minor}/deb/", keyUrl: "http://10.213.0.1:8080/k.asc", keyFingerprint: MIRROR },
    });
    expect(pinned.containerd).toMatchObject({ keyUrl: "http://10.213.0.1:8080/docker/debian/gpg", keyFingerprint: MIRROR });
    expect(pinned.kubernetes).toMatchObject({ keyUrl: "http://10.213.0.1:8080/k.asc", keyFingerprint: MIRROR });
    expect(problems({ sources: { containerd: { aptUrl: "http://10.213.0.1:8080/docker/debian", keyUrl: "https://keys.example/docker.asc" } } })).toEqual([]);
  });

  test("a fingerprint is normalised: lower case and gpg's groups of four become 40 upper-case hex digits", () => {
    const spaced = "9dc8 5822 9fc7 dd38 854a  e2d8 8d81 803c 0ebf cd88";
    expect(sourcesOf({ containerd: { keyFingerprint: spaced } }).containerd.keyFingerprint).toBe(DOCKER);
    expect(sourcesOf({ kubernetes: { keyFingerprint: " de15b14486cd377b9e876e1a234654da9a296436 " } }).kubernetes.keyFingerprint).toBe(K8S);
  });

  test.each([
    ["a long key ID", "8D81803C0EBFCD88", /has 16 hex digits; an OpenPGP v4 fingerprint has 40: that is a key ID, which anyone can make a key to match; give the whole fingerprint/],
    ["a short key ID", "0EBFCD88", /has 8 hex digits.*key ID/],
    ["a v6 fingerprint", "A".repeat(64), /has 64 hex digits.*v5\/v6 fingerprint/],
    ["one digit short", DOCKER.slice(1), /has 39 hex digits; an OpenPGP v4 fingerprint has 40 \(got "/],
    ["0x in front", `0x${DOCKER}`, /starts with 0x; write the 40 hex digits alone/],
    ["colons between groups", DOCKER.replace(/(.{4})(?!$)/g, "$1:"), /holds ":"; a fingerprint is 40 hex digits \(0-9, A-F\), spaces allowed/],
    ["a letter past F", `${DOCKER.slice(0, 39)}G`, /holds "G"/],
    ["a line break", `${DOCKER}\n`, /holds a line break \(U\+000A\)/],
    ["a command substitution", "$(reboot)", /holds "\$"/],
    ["a number (unquoted digits in YAML)", 1234567890, /must be an OpenPGP v4 fingerprint: 40 hex digits, written as a quoted string/],
  ])("%s is refused as a fingerprint, naming the key", (_, keyFingerprint, text) => {
    expectProblem({ sources: { kubernetes: { keyFingerprint } } }, "sources.kubernetes.keyFingerprint", text);
    expect(problems({ sources: { kubernetes: { keyFingerprint } } })).toHaveLength(1);
  });

  test("a bad fingerprint on an http source is one problem, not two", () =>
    expect(problems({ sources: { containerd: { aptUrl: "http://10.213.0.1:8080/docker/debian", keyFingerprint: "0EBFCD88" } } })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:sources\.containerd\.keyFingerprint: has 8 hex digits/),
    ]));

  test("the hosts stack pins the rig's signing key of the run, which makes its plain-http sources acceptable", () => {
    // Only what hostsStackConfig reads of a running rig.
    const hosts = {
      hosts: ["nieve", "sansa", "arya"].map((name, i) => ({
        name, address: `10.213.0.1${i}`, port: 22, user: "debian", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEVYQU1QTEUgS0VZIG9mIG5pZXZlOiByZXBsYWNlIGl0",
      })),
      ssh: { privateKeyPath: "/tmp/id_ed25519" },
    } as unknown as HostsState;
    const http = "http://10.213.0.1:8080";
    const sources = {
      keyFingerprint: MIRROR,
      urls: { kubernetes: `${http}/kubernetes/v1.36/deb/`, docker: `${http}/docker/debian`, debian: `${http}/debian`, registry: "10.213.0.1:5000" },
    } as unknown as SourcesState;
    const { sshPrivateKeyPath, ...values } = hostsStackConfig(hosts, sources);
    expect(sshPrivateKeyPath).toBe("/tmp/id_ed25519");
    const s = parseLabConfig({ ...values, hasSshPrivateKey: true, hasKubeconfig: false }).sources;
    expect(s.containerd).toMatchObject({ keyUrl: `${http}/docker/debian/gpg`, keyFingerprint: MIRROR });
    expect(s.kubernetes).toMatchObject({ keyUrl: `${http}/kubernetes/v1.36/deb/Release.key`, keyFingerprint: MIRROR });
    expect(unpinnedKeyWarnings(s)).toEqual([]);
  });

  test("Pulumi.hosts.yaml is valid config whose placeholder fingerprint matches no key until the run's is set", () => {
    const s = parseLabConfig({ ...stackConfig("hosts"), hasSshPrivateKey: true, hasKubeconfig: false }).sources;
    expect([s.containerd.keyFingerprint, s.kubernetes.keyFingerprint]).toEqual(["0".repeat(40), "0".repeat(40)]);
  });

  test("a Kubernetes aptUrl refused as filled in is one problem, not also its key URL's", () =>
    expect(problems({ sources: { kubernetes: { aptUrl: "http://m.example/k8s/$(reboot)/v{minor}/deb/" } } })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:sources\.kubernetes\.aptUrl: holds "\$"/),
    ]));
});
