// The seed's scenarios (sections 8.1-8.3, and the iPhone example of 4.3.1) as stack config, and the
// VirtualService each one must render. Expected specs read like Istio's sample files.
import fc from "fast-check";
import { parseLabConfig, TrafficSpec } from "../../config/schema";
import { buildDestinationRule, buildGateway, buildIngressRoutes, buildTrafficObjects, buildVirtualService, summarizeTraffic } from "../../specs/routes";
import { ServiceName } from "../../specs/catalogue";

function traffic(raw: unknown): TrafficSpec {
  return parseLabConfig({ cluster: { provision: false, kubeconfigPath: "/k" }, traffic: raw, hasSshPrivateKey: false, hasKubeconfig: false }).traffic;
}

function vsSpec(service: ServiceName, raw: unknown) {
  return buildVirtualService(service, traffic(raw)[service], "bookinfo").spec;
}

const to = (subset: string, weight?: number) => ({
  destination: { host: "reviews", subset },
  ...(weight === undefined ? {} : { weight }),
});

describe("blue-green (seed 8.1)", () => {
  test("with no config every service goes to v1, like virtual-service-all-v1.yaml", () => {
    const all = buildTrafficObjects(traffic(undefined), "bookinfo").virtualServices;
    expect(all.map((vs) => [vs.metadata.name, vs.spec.http[0].route])).toEqual([
      ["productpage", [{ destination: { host: "productpage", subset: "v1" } }]],
      ["details", [{ destination: { host: "details", subset: "v1" } }]],
      ["ratings", [{ destination: { host: "ratings", subset: "v1" } }]],
      ["reviews", [{ destination: { host: "reviews", subset: "v1" } }]],
    ]);
  });

  test("active v2 sends all of reviews to v2", () => {
    expect(vsSpec("reviews", { reviews: { active: "v2" } })).toEqual({
      hosts: ["reviews"],
      http: [{ name: "default", route: [to("v2")] }],
    });
  });

  test("the VirtualService is networking.istio.io/v1, owned by the program, and takes back drifted weights", () => {
    const vs = buildVirtualService("reviews", traffic({ reviews: { active: "v1" } }).reviews, "bookinfo");
    expect(vs.apiVersion).toBe("networking.istio.io/v1");
    expect(vs.metadata).toEqual({
      name: "reviews",
      namespace: "bookinfo",
      labels: { "app.kubernetes.io/managed-by": "kubeadm-istio-lab" },
      annotations: { "pulumi.com/patchForce": "true" },
    });
  });
});

describe("canary (seed 8.2)", () => {
  test("canary 90/10 sends 10% of reviews to v2", () => {
    expect(vsSpec("reviews", { reviews: { canary: "v2", weight: 10 } }).http).toEqual([
      { name: "default", route: [to("v1", 90), to("v2", 10)] },
    ]);
  });

  test("50/50 splits reviews between v1 and v2 (the seed's YAML said v3; its text means v2)", () => {
    expect(vsSpec("reviews", { reviews: { canary: "v2", weight: 50 } }).http[0].route).toEqual([to("v1", 50), to("v2", 50)]);
  });

  test("100 sends everything to v2 and keeps v1 listed at 0, so the next flip is a weight change", () => {
    expect(vsSpec("reviews", { reviews: { canary: "v2", weight: 100 } }).http[0].route).toEqual([to("v1", 0), to("v2", 100)]);
  });

  test("a canary from a blue-green active version uses it as the stable side", () => {
    expect(vsSpec("reviews", { reviews: { active: "v2", canary: "v3", weight: 25 } }).http[0].route).toEqual([to("v2", 75), to("v3", 25)]);
  });

  test("weights always sum to 100 and the summary states them", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.constantFrom("v2", "v3"), (weight, canary) => {
        const t = traffic({ reviews: { canary, weight } });
        const route = buildVirtualService("reviews", t.reviews, "bookinfo").spec.http[0].route;
        expect(route.reduce((sum, d) => sum + (d.weight ?? 0), 0)).toBe(100);
        expect(summarizeTraffic(t)).toContain(`reviews: v1 ${100 - weight}%, ${canary} ${weight}%`);
      }),
    );
  });
});

describe("delay and timeout (seed 8.3)", () => {
  const scenario = { ratings: { fault: { delay: { fixedDelay: "2s" } } }, reviews: { active: "v2", timeout: "0.5s" } };

  test("ratings delayed 2 s for every request, with Istio's current percentage field", () => {
    expect(vsSpec("ratings", scenario).http).toEqual([
      {
        name: "default",
        route: [{ destination: { host: "ratings", subset: "v1" } }],
        fault: { delay: { percentage: { value: 100 }, fixedDelay: "2s" } },
      },
    ]);
  });

  test("reviews v2 with a 0.5 s timeout", () => {
    expect(vsSpec("reviews", scenario).http).toEqual([{ name: "default", route: [to("v2")], timeout: "0.5s" }]);
  });

  test("durations are normalised to Istio's seconds form", () => {
    expect(vsSpec("reviews", { reviews: { timeout: "500ms" } }).http[0].timeout).toBe("0.5s");
    expect(vsSpec("reviews", { reviews: { timeout: "1m" } }).http[0].timeout).toBe("60s");
    expect(vsSpec("reviews", { reviews: { timeout: "1.25s" } }).http[0].timeout).toBe("1.25s");
  });

  test("abort and retries render as Istio expects", () => {
    const http = vsSpec("ratings", {
      ratings: { fault: { abort: { percent: 10, httpStatus: 503 } }, retries: { attempts: 3, perTryTimeout: "2s", retryOn: "5xx,connect-failure" } },
    }).http[0];
    expect(http.fault).toEqual({ abort: { percentage: { value: 10 }, httpStatus: 503 } });
    expect(http.retries).toEqual({ attempts: 3, perTryTimeout: "2s", retryOn: "5xx,connect-failure" });
  });
});

describe("header routes (seed 4.3.1, Istio's end-user: jason)", () => {
  test("an iPhone User-Agent goes to v3, in front of the default route", () => {
    expect(vsSpec("reviews", { reviews: { headerRoutes: [{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }] } }).http).toEqual([
      { name: "header-0-user-agent", match: [{ headers: { "user-agent": { regex: ".*iPhone.*" } } }], route: [to("v3")] },
      { name: "default", route: [to("v1")] },
    ]);
  });

  test("end-user: jason goes to v2 in front of a 90/10 canary with a timeout on every route", () => {
    const http = vsSpec("reviews", {
      reviews: { canary: "v3", weight: 10, timeout: "1s", headerRoutes: [{ header: "end-user", exact: "jason", version: "v2" }] },
    }).http;
    expect(http).toEqual([
      { name: "header-0-end-user", match: [{ headers: { "end-user": { exact: "jason" } } }], route: [to("v2")], timeout: "1s" },
      { name: "default", route: [to("v1", 90), to("v3", 10)], timeout: "1s" },
    ]);
  });

  test("a header route's own fault applies to it alone (Istio's ratings-test-delay for jason)", () => {
    const http = vsSpec("ratings", {
      ratings: { headerRoutes: [{ header: "end-user", exact: "jason", version: "v1", fault: { delay: { fixedDelay: "7s" } } }] },
    }).http;
    expect(http[0].fault).toEqual({ delay: { percentage: { value: 100 }, fixedDelay: "7s" } });
    expect(http[1].fault).toBeUndefined();
  });

  test("prefix matches render as prefix", () => {
    const http = vsSpec("reviews", { reviews: { headerRoutes: [{ header: "x-canary", prefix: "yes", version: "v2" }] } }).http;
    expect(http[0].match).toEqual([{ headers: { "x-canary": { prefix: "yes" } } }]);
  });
});

describe("subsets and the ingress", () => {
  test("each DestinationRule defines a subset per deployed version (the seed never created them)", () => {
    expect(buildDestinationRule("reviews", "bookinfo").spec).toEqual({
      host: "reviews",
      subsets: [
        { name: "v1", labels: { version: "v1" } },
        { name: "v2", labels: { version: "v2" } },
        { name: "v3", labels: { version: "v3" } },
      ],
    });
  });

  test("every subset any route names is defined by that service's DestinationRule", () => {
    const t = traffic({ reviews: { canary: "v3", weight: 40, headerRoutes: [{ header: "end-user", exact: "jason", version: "v2" }] } });
    const { destinationRules, virtualServices } = buildTrafficObjects(t, "bookinfo");
    for (const vs of virtualServices) {
      const dr = destinationRules.find((d) => d.spec.host === vs.spec.hosts[0]);
      const defined = new Set(dr?.spec.subsets.map((s) => s.name));
      for (const route of vs.spec.http) for (const d of route.route) expect(defined.has(d.destination.subset ?? "")).toBe(true);
    }
  });

  test("productpage is exposed through the ingress gateway selected by istio: ingressgateway, on its configured subset", () => {
    const gateway = buildGateway("bookinfo");
    const virtualService = buildIngressRoutes("bookinfo", traffic({ productpage: { timeout: "3s" } }).productpage);
    expect(gateway.spec.selector).toEqual({ istio: "ingressgateway" });
    expect(virtualService.spec.gateways).toEqual(["bookinfo-gateway"]);
    expect(virtualService.spec.http[0].match).toContainEqual({ uri: { exact: "/productpage" } });
    // Gateway traffic skips productpage's mesh VirtualService: the subset and timeout are repeated here.
    expect(virtualService.spec.http[0].route).toEqual([{ destination: { host: "productpage", subset: "v1", port: { number: 9080 } } }]);
    expect(virtualService.spec.http[0].timeout).toBe("3s");
  });

  test("the routing summary reads in words", () => {
    const t = traffic({
      reviews: { canary: "v2", weight: 10, timeout: "0.5s", headerRoutes: [{ header: "user-agent", regex: ".*iPhone.*", version: "v3" }] },
      ratings: { fault: { delay: { fixedDelay: "2s" } } },
    });
    expect(summarizeTraffic(t)).toEqual([
      "productpage: v1 100%",
      "details: v1 100%",
      "ratings: v1 100%; delay 2s on 100%",
      'reviews: v1 90%, v2 10%; timeout 0.5s; user-agent ~ ".*iPhone.*" → v3',
    ]);
  });
});
