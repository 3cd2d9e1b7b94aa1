// Every invalid value is refused before any resource exists, with a message naming the config key and
// what is allowed.
import { ConfigError, parseLabConfig, RawConfig } from "../../config/schema";
import { stackConfig } from "./harness";

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
  test("typo in a key", () => expectProblem(t({ canary: "v2", wieght: 10 }), "traffic.reviews", /Unrecognized key: "wieght"/));
  test("unknown service", () => expectProblem({ traffic: { reviewz: { active: "v1" } } }, "traffic.reviewz", /unknown service; allowed: productpage, details, ratings, reviews/));
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
    expectProblem(t({ headerRoutes: [{ header: "user-agent", regex: "(iPhone", version: "v3" }] }), "traffic.reviews.headerRoutes[0].regex", /not a valid regular expression/));
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
});

describe("istio, bookinfo, weave", () => {
  test("unknown mTLS mode", () => expectProblem({ istio: { mtls: "STRICTER" } }, "istio.mtls", /STRICT.*PERMISSIVE.*DISABLE/));
  test("Istio version not a release", () => expectProblem({ istio: { version: "latest" } }, "istio.version", /Istio release/));
  test("addons without installing Istio", () =>
    expectProblem({ istio: { install: false, addons: { kiali: true } } }, "istio.addons", /turn them off/));
  test("unknown addon", () => expectProblem({ istio: { addons: { zipkin: true } } }, "istio.addons", /Unrecognized key: "zipkin"/));
  test("latest image tag", () => expectProblem({ bookinfo: { imageTag: "latest" } }, "bookinfo.imageTag", /pinned tag/));
  test("NodePort out of range", () => expectProblem({ bookinfo: { nodePort: 8080 } }, "bookinfo.nodePort", /30000|32767/));
  test("image override for an unknown workload", () =>
    expectProblem({ bookinfo: { images: { "reviews-v4": "example/reviews:1" } } }, "bookinfo.images.reviews-v4", /unknown workload/));
  test("same NodePort for productpage and the gateway", () =>
    expectProblem({ bookinfo: { nodePort: 31080 } }, "bookinfo.nodePort", /also istio.ingressNodePort/));
  test("bad Weave version", () => expectProblem({ weave: { version: "2.8" } }, "weave.version", /Invalid/));
});

test("all problems are reported at once, and the error says nothing was changed", () => {
  expect(() => parseLabConfig({ ...base, traffic: { reviews: { weight: 500 } }, istio: { mtls: "NO" } })).toThrow(/invalid stack config \(\d+ problems\); nothing was changed/);
  expect(problems({ traffic: { reviews: { canary: "v2", weight: 500 } }, istio: { mtls: "NO" } }).length).toBeGreaterThanOrEqual(2);
});
